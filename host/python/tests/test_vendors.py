"""Both vendors end to end through wasmtime-py: configure → create → read → delete, checked
against the sandboxes' own state."""

import pytest

from roster_provider import InvalidConfig, Provider
from sandbox import NimbusDemo, SymbeeDemo, nimbus_certificate, nimbus_config

NEW_USER = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
MARS = {
    "login_user_id": "mmars@abc-gadgets.com",
    "first_name": "Mike",
    "last_name": "Mars",
    "user_template_name": SymbeeDemo.TEMPLATE,
    "create_in_amazon_connect": True,
}


def nimbus_users(box):
    return [u["o365Id"] for u in box.state()["tenants"][0]["users"]]


def symbee_env(box):
    return box.state()["companies"][0]["environments"][0]


def test_metadata_describes_the_provider(nimbus, symbee):
    meta = nimbus.metadata()
    assert meta["name"] == "nimbus"
    assert [r["type_name"] for r in meta["resources"]] == ["nimbus_user"]
    assert meta["rate_limit"] == {"operations": 60, "per_seconds": 60}
    assert any(s["name"] == "client_secret" for s in meta["secrets"])
    assert symbee.metadata()["name"] == "symbee"
    config = {"cluster": "ch-01", "tenant_id": NimbusDemo.TENANT_ID, "client_id": NimbusDemo.CLIENT_ID}
    assert nimbus.allowed_hosts(config) == ["https://admin.ch-01.luware.cloud", "https://login.microsoftonline.com"]


def test_nimbus_create_read_delete(nimbus, nimbus_box):
    tokens = nimbus_box.stats()["tokens_issued"]
    assert nimbus.read("nimbus_user", NEW_USER) is None
    created = nimbus.create("nimbus_user", {"o365_id": NEW_USER, "organization_unit_id": NimbusDemo.OU_SALES})
    assert created["o365_id"] == NEW_USER
    assert created["organization_unit_id"] == NimbusDemo.OU_SALES
    assert created["assignment_type"] == "SkillBased"
    assert NEW_USER in nimbus_users(nimbus_box), "the sandbox has the user"

    assert nimbus.read("nimbus_user", NEW_USER) == created
    nimbus.delete("nimbus_user", NEW_USER)
    assert nimbus.read("nimbus_user", NEW_USER) is None
    assert NEW_USER not in nimbus_users(nimbus_box)
    assert nimbus_box.stats()["tokens_issued"] == tokens + 1, "one token served every call of the instance"


def test_nimbus_authenticates_with_a_certificate(nimbus_wasm, nimbus_box):
    ps256 = lambda: nimbus_box.stats()["client_assertions"].get("certificate PS256", 0)
    before = ps256()
    p = Provider(nimbus_wasm, secrets=nimbus_certificate(), allowed_hosts=[nimbus_box.url], trust_declared_hosts=True)
    p.configure({**nimbus_config(nimbus_box.url), "credential": "certificate"})
    created = p.create("nimbus_user", {"o365_id": NEW_USER, "organization_unit_id": NimbusDemo.OU_SALES})
    assert created["o365_id"] == NEW_USER
    assert NEW_USER in nimbus_users(nimbus_box)
    p.delete("nimbus_user", NEW_USER)
    assert ps256() == before + 1, "one PS256 client assertion, signed inside the component, got the token"


def test_nimbus_refuses_two_credentials_at_configure(nimbus_wasm, nimbus_box):
    p = Provider(nimbus_wasm, secrets={**nimbus_certificate(), "client_secret": NimbusDemo.CLIENT_SECRET})
    with pytest.raises(InvalidConfig) as e:
        p.configure({**nimbus_config(nimbus_box.url), "credential": "certificate"})
    assert e.value.field == "client_secret"
    assert "PRIVATE KEY" not in e.value.message


def test_nimbus_copy_and_query(nimbus):
    used = lambda: next(l for l in nimbus.query("nimbus_license_usage")["licenses"] if l["license_type"] == "Contact Center")["used"]
    before = used()
    copied = nimbus.create("nimbus_user", {"o365_id": NEW_USER, "copy_from": NimbusDemo.TEMPLATE_USER})
    assert copied["roles"] == ["Team Owner", "Agent"]
    assert copied["organization_unit_id"] == NimbusDemo.OU_SALES
    assert used() == before + 1


def test_symbee_create_read_delete(symbee, symbee_box):
    created = symbee.create("symbee_user", MARS)
    assert created["amazon_connect_status"] == "EXISTS"
    env = symbee_env(symbee_box)
    assert [u["login_user_id"] for u in env["users"]].count(MARS["login_user_id"]) == 1
    assert [c["username"] for c in env["connect_users"]] == [MARS["login_user_id"]]

    read = symbee.read("symbee_user", MARS["login_user_id"])
    assert read["connect_user_id"] == created["connect_user_id"]
    assert read["create_in_amazon_connect"] is True
    symbee.delete("symbee_user", MARS["login_user_id"])
    assert symbee.read("symbee_user", MARS["login_user_id"]) is None
    env = symbee_env(symbee_box)
    assert MARS["login_user_id"] not in [u["login_user_id"] for u in env["users"]]
    assert env["connect_users"] == [], "deleted from Amazon Connect too"


def test_validate_needs_no_config_and_no_network(nimbus_wasm, nimbus_box):
    from roster_provider import FieldError, Provider

    before = nimbus_box.stats()
    p = Provider(nimbus_wasm)  # not configured, no secrets
    problems = p.validate("nimbus_user", {"o365_id": "not-a-guid"})
    assert FieldError in {type(f) for f in problems}
    assert {f.field for f in problems} >= {"o365_id", "organization_unit_id"}
    assert p.validate("nimbus_user", {"o365_id": NEW_USER, "organization_unit_id": NimbusDemo.OU_SALES}) == []
    assert nimbus_box.stats() == before, "nothing reached the sandbox"
