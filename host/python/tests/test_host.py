"""What the Python host itself does: secrets from a callable (and a fresh value after the vendor
rejected one), missing secrets, traps and the component's stderr (redacted), the memory limit."""

import base64

import pytest

from roster_provider import ComponentTrapped, Denied, InvalidConfig, Provider, ProviderError
from sandbox import NimbusDemo, SymbeeDemo, nimbus_config, symbee_config


def test_a_callable_supplies_secrets_and_a_rotated_secret_is_picked_up(nimbus_wasm, nimbus_box):
    current = {"value": NimbusDemo.CLIENT_SECRET}
    asked = []

    def secrets(name):
        asked.append(name)
        return current["value"] if name == "client_secret" else None

    p = Provider(nimbus_wasm, secrets=secrets, allowed_hosts=[nimbus_box.url], trust_declared_hosts=True)
    p.configure(nimbus_config(nimbus_box.url))
    p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    asked_before = len(asked)
    # Rotate in Entra and in the source; the component still holds the old value and its token.
    nimbus_box.request("POST", "/_sandbox/entra/rotate-secret", {"client_id": NimbusDemo.CLIENT_ID, "client_secret": "rotated"})
    nimbus_box.request("POST", "/_sandbox/tokens/revoke")
    current["value"] = "rotated"
    assert p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)["o365_id"] == NimbusDemo.TEMPLATE_USER
    assert len(asked) > asked_before, "the component asked again (refresh)"
    # configure also asks for the other credentials' secrets (None here), to refuse a second one.
    assert set(asked) == {"client_secret", "client_certificate", "client_private_key", "federated_token"}
    assert asked[:3] == ["client_certificate", "client_private_key", "federated_token"]


def test_a_missing_secret_is_named(nimbus_wasm, nimbus_box):
    p = Provider(nimbus_wasm, secrets={}, allowed_hosts=[nimbus_box.url], trust_declared_hosts=True)
    p.configure(nimbus_config(nimbus_box.url))
    with pytest.raises(ProviderError) as e:
        p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    assert isinstance(e.value, InvalidConfig) and e.value.field == "client_secret"
    assert "no secret `client_secret`" in e.value.message


def test_a_failing_secret_source_is_a_typed_error_not_a_crash(nimbus_wasm, nimbus_box):
    def broken(name):
        raise TimeoutError("vault did not answer")

    p = Provider(nimbus_wasm, secrets=broken, allowed_hosts=[nimbus_box.url], trust_declared_hosts=True)
    p.configure(nimbus_config(nimbus_box.url))
    with pytest.raises(ProviderError, match="vault did not answer"):
        p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)


def test_a_trap_discards_the_instance_and_the_next_call_is_configured_again(misbehave_wasm):
    p = Provider(misbehave_wasm)
    p.configure({"hosts": []})
    assert p.create("echo", {"a": 1}) == {"a": 1}
    with pytest.raises(ComponentTrapped):
        p.create("panic", {})
    # A new instance, configured again with the remembered config: configure + this read.
    assert p.read("calls", "") == {"calls": 2}


def test_the_components_stderr_is_redacted(misbehave_wasm, capsys):
    secret = "hunter2-vault-token-0f3c"
    p = Provider(misbehave_wasm, secrets={"token": secret})
    p.configure({"hosts": []})
    with pytest.raises(ComponentTrapped):
        p.create("panic", {"secret": "token"})
    err = capsys.readouterr().err
    assert "about to leak [redacted]" in err, err
    assert secret not in err and base64.b64encode(secret.encode()).decode() not in err, err


def test_the_memory_limit_stops_a_hoarding_component(misbehave_wasm):
    p = Provider(misbehave_wasm, memory_limit=16 << 20)
    p.configure({"hosts": []})
    with pytest.raises(ComponentTrapped):
        p.create("grow", {})
    assert p.create("echo", {"ok": True}) == {"ok": True}


def test_allowed_hosts_must_name_every_host_the_component_asks_for(nimbus_wasm, nimbus_box):
    p = Provider(nimbus_wasm, secrets={"client_secret": NimbusDemo.CLIENT_SECRET}, allowed_hosts=["https://login.microsoftonline.com"], trust_declared_hosts=True)
    assert p.network == "allow"
    with pytest.raises(Denied) as e:
        p.configure(nimbus_config(nimbus_box.url))
    assert f"the component asks for {nimbus_box.url}, not in allowed_hosts (https://login.microsoftonline.com)" in str(e.value)
    with pytest.raises(ValueError, match="allowed host `ftp://x`: scheme must be http or https"):
        Provider(nimbus_wasm, allowed_hosts=["ftp://x"], trust_declared_hosts=True)


def test_a_network_this_host_cannot_hold_the_component_to_is_refused_unless_trusted(nimbus_wasm, nimbus_box):
    # wasmtime-py cannot check requests one by one: an allow-list alone must not look enforced.
    with pytest.raises(ValueError, match="cannot hold a component to it") as e:
        Provider(nimbus_wasm, secrets={"client_secret": NimbusDemo.CLIENT_SECRET}, allowed_hosts=[nimbus_box.url])
    assert "trust_declared_hosts=True" in str(e.value)
    assert Provider(nimbus_wasm).network == "deny"


def test_validate_after_a_trap_runs_on_a_configured_instance(misbehave_wasm):
    p = Provider(misbehave_wasm)
    p.configure({"hosts": []})
    with pytest.raises(ComponentTrapped):
        p.create("panic", {})
    assert p.validate("anything", {}) == []
    # The new instance was configured before validate: configure, validate, this read.
    assert p.read("calls", "") == {"calls": 3}


@pytest.mark.parametrize("vendor", ["nimbus-token", "nimbus-api", "symbee"])
def test_an_echoing_gateway_leaks_no_secret(vendor, nimbus_wasm, symbee_wasm, nimbus_box, symbee_box):
    echo = {"error_rate": 1.0, "error_status": 502, "echo": True}
    if vendor == "symbee":
        symbee_box.request("PUT", "/_sandbox/faults", {"routes": {"*": echo}})
        p = Provider(symbee_wasm, secrets={"api_key": SymbeeDemo.API_KEY}, allowed_hosts=[symbee_box.url], trust_declared_hosts=True)
        p.configure(symbee_config(symbee_box.url))
        call, leaks = (lambda: p.read("symbee_user", "vvenus@abc-gadgets.com")), [SymbeeDemo.API_KEY]
    else:
        nimbus_box.request("PUT", "/_sandbox/faults", {"routes": {"token" if vendor == "nimbus-token" else "get": echo}})
        p = Provider(nimbus_wasm, secrets={"client_secret": NimbusDemo.CLIENT_SECRET}, allowed_hosts=[nimbus_box.url], trust_declared_hosts=True)
        p.configure(nimbus_config(nimbus_box.url))
        pair = base64.b64encode(f"{NimbusDemo.CLIENT_ID}:{NimbusDemo.CLIENT_SECRET}".encode()).decode()
        call, leaks = (lambda: p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)), [NimbusDemo.CLIENT_SECRET, pair]
    with pytest.raises(ProviderError) as e:
        call()
    text = f"{e.value} {e.value!r}"
    assert "sandbox fault: echo" in text
    for leak in leaks:
        assert leak not in text
    if vendor != "nimbus-api":
        assert "[redacted]" in text
