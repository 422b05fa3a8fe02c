"""What the Python host itself does: secrets from a callable (and a fresh value after the vendor
rejected one), missing secrets, traps, the memory limit."""

import pytest

from roster_provider import ComponentTrapped, InvalidConfig, Provider, ProviderError
from sandbox import NimbusDemo, nimbus_config


def test_a_callable_supplies_secrets_and_a_rotated_secret_is_picked_up(nimbus_wasm, nimbus_box):
    current = {"value": NimbusDemo.CLIENT_SECRET}
    asked = []

    def secrets(name):
        asked.append(name)
        return current["value"] if name == "client_secret" else None

    p = Provider(nimbus_wasm, secrets=secrets)
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
    p = Provider(nimbus_wasm, secrets={})
    p.configure(nimbus_config(nimbus_box.url))
    with pytest.raises(ProviderError) as e:
        p.read("nimbus_user", NimbusDemo.TEMPLATE_USER)
    assert isinstance(e.value, InvalidConfig) and e.value.field == "client_secret"
    assert "no secret `client_secret`" in e.value.message


def test_a_failing_secret_source_is_a_typed_error_not_a_crash(nimbus_wasm, nimbus_box):
    def broken(name):
        raise TimeoutError("vault did not answer")

    p = Provider(nimbus_wasm, secrets=broken)
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


def test_the_memory_limit_stops_a_hoarding_component(misbehave_wasm):
    p = Provider(misbehave_wasm, memory_limit=16 << 20)
    p.configure({"hosts": []})
    with pytest.raises(ComponentTrapped):
        p.create("grow", {})
    assert p.create("echo", {"ok": True}) == {"ok": True}
