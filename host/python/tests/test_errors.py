"""One error of each kind a host acts on, produced through the sandboxes (their data, their
control endpoints), each caught as its own exception class."""

import pytest

from roster_provider import (
    AlreadyExists,
    Denied,
    Forbidden,
    InvalidConfig,
    InvalidInput,
    NotFound,
    Provider,
    ProviderError,
    RateLimited,
    Unauthorized,
    Unavailable,
    VendorError,
)
from sandbox import NimbusDemo, SymbeeDemo, nimbus_config, symbee_config

NEW_USER = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
OTHER_USER = "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12"
UNKNOWN_USER = "99999999-9999-4999-8999-999999999999"


def user(id, ou):
    return {"o365_id": id, "organization_unit_id": ou}


def test_invalid_config_names_the_key(nimbus_wasm, symbee_wasm, symbee_box):
    p = Provider(nimbus_wasm)
    with pytest.raises(InvalidConfig) as e:
        p.configure({"cluster": "mars-01", "tenant_id": NimbusDemo.TENANT_ID, "client_id": NimbusDemo.CLIENT_ID})
    assert e.value.field == "cluster"
    assert e.value.kind == "invalid-config"
    # Through the sandbox: an environment on Amazon Connect's internal directory is NOT_SUPPORTED.
    lab = Provider(symbee_wasm, secrets={"api_key": SymbeeDemo.API_KEY}, allowed_hosts=[symbee_box.url], trust_declared_hosts=True)
    lab.configure(symbee_config(symbee_box.url, SymbeeDemo.ENV_INTERNAL))
    with pytest.raises(InvalidConfig) as e:
        lab.read("symbee_user", "x@abc-gadgets.com")
    assert e.value.field == "environment"
    assert e.value.message.startswith("NOT_SUPPORTED")


def test_invalid_input_names_the_field(nimbus, nimbus_box):
    # The sandbox's 400: an MS-Teams synced user cannot be a template.
    with pytest.raises(InvalidInput) as e:
        nimbus.create("nimbus_user", {"o365_id": OTHER_USER, "copy_from": NimbusDemo.TEAMS_USER})
    assert e.value.field == "copy_from"
    assert "MS-Teams" in e.value.message
    # Checked before anything is sent.
    before = nimbus_box.stats()["operations"]
    with pytest.raises(InvalidInput) as e:
        nimbus.create("nimbus_user", user("not-a-guid", NimbusDemo.OU_SALES))
    assert e.value.field == "o365_id"
    assert nimbus_box.stats()["operations"] == before


def test_unauthorized_after_the_secret_is_rotated(nimbus, nimbus_box, symbee, symbee_box):
    nimbus_box.request("POST", "/_sandbox/entra/rotate-secret", {"client_id": NimbusDemo.CLIENT_ID, "client_secret": "a-secret-nobody-has"})
    nimbus_box.request("POST", "/_sandbox/tokens/revoke")
    with pytest.raises(Unauthorized) as e:
        nimbus.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    assert "AADSTS7000215" in e.value.message
    assert NimbusDemo.CLIENT_SECRET not in str(e.value)

    refused = symbee_box.stats()["unauthorized"]
    symbee_box.request("POST", "/_sandbox/rotate-key", {"company_code": SymbeeDemo.COMPANY, "environment": SymbeeDemo.ENV_SAML, "api_key": "a-key-nobody-has"})
    with pytest.raises(Unauthorized, match="invalid API key"):
        symbee.read("symbee_user", "vvenus@abc-gadgets.com")
    assert symbee_box.stats()["unauthorized"] == refused + 2, "the key from get, then from refresh"


def test_forbidden_outside_the_apps_organization_units(nimbus):
    with pytest.raises(Forbidden, match="Organization Unit not allowed"):
        nimbus.create("nimbus_user", user(OTHER_USER, NimbusDemo.OU_BOARD))


def test_not_found(nimbus, symbee):
    with pytest.raises(NotFound, match="SourceO365Id"):
        nimbus.create("nimbus_user", {"o365_id": OTHER_USER, "copy_from": UNKNOWN_USER})
    with pytest.raises(NotFound, match="NOT_FOUND"):
        symbee.delete("symbee_user", "nobody@abc-gadgets.com")


def test_already_exists(nimbus, symbee):
    nimbus.create("nimbus_user", user(NEW_USER, NimbusDemo.OU_SALES))
    with pytest.raises(AlreadyExists, match="User already exists"):
        nimbus.create("nimbus_user", user(NEW_USER, NimbusDemo.OU_SALES))
    mars = {"login_user_id": "mmars@abc-gadgets.com", "first_name": "Mike", "last_name": "Mars", "user_template_name": SymbeeDemo.TEMPLATE}
    symbee.create("symbee_user", mars)
    with pytest.raises(AlreadyExists, match="ALREADY_EXISTS"):
        symbee.create("symbee_user", mars)


def test_rate_limited_carries_retry_after(nimbus, nimbus_box):
    refused = nimbus_box.stats()["rate_limited"]
    nimbus_box.request("PUT", "/_sandbox/rate-limit", {"operations": 1, "window_ms": 10_000, "mode": "reject"})
    nimbus.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    with pytest.raises(RateLimited) as e:
        nimbus.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    assert e.value.retry_after_ms is not None and 1000 <= e.value.retry_after_ms <= 10_000
    assert nimbus_box.stats()["rate_limited"] == refused + 1


def test_unavailable_on_injected_faults_and_the_instance_survives(nimbus, nimbus_box):
    nimbus_box.request("PUT", "/_sandbox/faults", {"routes": {"get": {"error_rate": 1.0, "error_status": 503}}})
    with pytest.raises(Unavailable):
        nimbus.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    nimbus_box.request("PUT", "/_sandbox/faults", {"routes": {"get": {"drop_rate": 1.0}}})
    with pytest.raises(Unavailable):
        nimbus.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    nimbus_box.request("PUT", "/_sandbox/faults", {"routes": {}})
    assert nimbus.read("nimbus_user", NimbusDemo.TEMPLATE_USER)["o365_id"] == NimbusDemo.TEMPLATE_USER


def test_vendor_error_when_amazon_connect_fails(symbee, symbee_box):
    seed = symbee_box.seed()
    seed["companies"][0]["environments"][0]["connect_failure"] = True
    symbee_box.put_state(seed)
    mars = {"login_user_id": "mmars@abc-gadgets.com", "first_name": "Mike", "last_name": "Mars", "user_template_name": SymbeeDemo.TEMPLATE, "create_in_amazon_connect": True}
    with pytest.raises(VendorError) as e:
        symbee.create("symbee_user", mars)
    assert e.value.status == 0
    assert e.value.message.startswith("FAIL:")


def test_the_network_is_denied_unless_allowed_hosts_are_given(nimbus_wasm, nimbus_box):
    before = nimbus_box.stats()
    p = Provider(nimbus_wasm, secrets={"client_secret": NimbusDemo.CLIENT_SECRET})
    assert p.network == "deny"
    p.configure(nimbus_config(nimbus_box.url))
    assert p.validate("nimbus_user", {"o365_id": NEW_USER, "organization_unit_id": NimbusDemo.OU_SALES}) == []
    with pytest.raises(Denied, match="denied"):
        p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    with pytest.raises(Denied):
        p.create("nimbus_user", user(NEW_USER, NimbusDemo.OU_SALES))
    assert nimbus_box.stats() == before, "nothing reached the sandbox"


def test_every_kind_is_a_provider_error(nimbus):
    with pytest.raises(ProviderError) as e:
        nimbus.create("nimbus_user", user(OTHER_USER, NimbusDemo.OU_BOARD))
    assert isinstance(e.value, Forbidden) and e.value.kind == "forbidden"
