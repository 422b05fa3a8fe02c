"""The golden vectors in tests/vectors/, which the Rust and Node hosts run too: the allow-list
rule, the private-network rule, the error mapping, redaction, and the host policy (limits,
the redaction marker, what a failed call does to its instance)."""

import inspect
import json
import threading
from pathlib import Path

import pytest
import wasmtime
from wasmtime import component as wc

import roster_provider.redact
from roster_provider import AllowedHost, AllowList, ComponentTrapped, NotFound, Provider, ProviderError, _error, _RedactedStderr
from roster_provider.address import check_address, classify, refused_names
from roster_provider.redact import Redactor, forms, redact_with

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text())


@pytest.mark.parametrize("case", load("allowlist.json")["entries"], ids=lambda c: repr(c["entry"]))
def test_allowlist_entries(case):
    if "error" in case:
        with pytest.raises(ValueError) as e:
            AllowedHost.parse(case["entry"])
        assert str(e.value) == case["error"]
    else:
        assert str(AllowedHost.parse(case["entry"])) == case["display"]


@pytest.mark.parametrize("case", load("allowlist.json")["requests"], ids=lambda c: f"{c['hosts']} {c['scheme']}://{c['authority']}")
def test_allowlist_requests(case):
    assert AllowList(case["hosts"]).allows_authority(case["scheme"], case["authority"]) is case["allowed"]


def wit_value(val):
    """A WIT value as wasmtime-py gives it: records as Record objects with the WIT field names."""
    if not isinstance(val, dict):
        return val
    record = wc.Record()
    for k, v in val.items():
        setattr(record, k, v)
    return record


@pytest.mark.parametrize("case", load("errors.json")["cases"], ids=lambda c: c["describe"])
def test_error_mapping(case):
    e = _error(wc.Variant(case["error"]["tag"], wit_value(case["error"]["val"])))
    assert isinstance(e, ProviderError)
    assert e.kind == case["kind"]
    assert e.message == case["message"]
    for attr in ("field", "retry_after_ms", "status"):
        if attr in case:
            assert getattr(e, attr) == case[attr]


@pytest.mark.parametrize("case", load("redact.json")["cases"], ids=lambda c: c["text"][:40])
def test_redaction(case):
    assert redact_with(case["text"], forms(case["secret"])) == case["redacted"]


@pytest.mark.parametrize("case", load("addresses.json")["classes"], ids=lambda c: c["ip"])
def test_address_classes(case):
    assert classify(case["ip"]) == case["class"]


@pytest.mark.parametrize("case", load("addresses.json")["decisions"], ids=lambda c: f"{c['host']}->{c['ip']}")
def test_private_network_rule(case):
    why = check_address(case["host"], case["ip"], case["user_granted"], case["allow_private_networks"])
    assert (why is None) == case["allowed"], why


def test_granted_names_that_resolve_to_private_networks_are_refused():
    case = load("addresses.json")["configure_names"]
    asked = []

    def resolve(host, port):
        asked.append([host, port])
        return case["resolve"].get(host, [])

    entries = [AllowedHost.parse(e) for e in case["entries"]]
    refused = refused_names(entries, False, resolve)
    assert len(refused) == len(case["refused"]), refused
    for why, start in zip(refused, case["refused"]):
        assert why.startswith(start), why
    # IP addresses and wildcards are not resolved; ports default by scheme.
    assert asked == case["asked"]
    assert refused_names(entries, True, resolve) == case["refused_with_allow_private_networks"]


def not_enforced_by(policy, host):
    """The sections of policy.json that say ``host`` does not enforce them."""
    return sorted(name for name, section in policy.items() if isinstance(section, dict) and host in section.get("not_enforced", {}))


def test_limits_are_the_policy_vector():
    policy = load("policy.json")
    assert not_enforced_by(policy, "python") == ["call_deadline_ms", "credential_headers", "http_timeouts_ms", "response_body_bytes"], (
        "what this host leaves out"
    )
    assert policy["response_body_bytes"]["limit"] is None
    assert inspect.signature(Provider).parameters["memory_limit"].default == policy["memory_bytes"]["limit"]


def test_the_redaction_marker_is_the_policy_vector():
    policy = load("policy.json")["redaction"]
    assert roster_provider.redact.REDACTED == policy["marker"]
    assert roster_provider.REDACTED == policy["marker"]
    assert roster_provider.redact.MIN_LEN == policy["min_len_bytes"]


def fake_provider(fail):
    """A Provider over fake instances (no component, no wasmtime store): each records the calls it
    gets in ``made``; ``fail`` holds what the next ``read`` raises or returns instead."""
    made = []
    p = Provider.__new__(Provider)
    p._lock = threading.RLock()
    p._redactor = Redactor()
    p._stderr = _RedactedStderr(p._redactor)
    p._grant = None
    p._config = None

    def instantiate():
        calls = []

        def func(name):
            def call(_store, *args):
                calls.append((name, args[0]) if name == "configure" else (name,))
                if name == "read" and fail:
                    outcome = fail.pop()
                    if isinstance(outcome, Exception):
                        raise outcome
                    return outcome
                return [] if name in ("allowed-hosts", "validate") else "{}"

            return call

        names = ("metadata", "allowed-hosts", "configure", "validate", "read", "create", "delete", "query")
        p._store, p._instance, p._funcs = object(), object(), {n: func(n) for n in names}
        made.append(calls)

    p._instantiate = instantiate
    p._instantiate()
    return p, made


#: How each outcome of policy.json's failed_calls ends a call in this host: the memory cap makes
#: the component trap (wasmtime-py refuses the growth).
OUTCOMES = {
    "provider-error": (lambda: wc.Variant("not-found", "gone"), NotFound),
    "trap": (lambda: wasmtime.Trap("wasm trap: wasm `unreachable` instruction executed"), ComponentTrapped),
    "memory-limit": (lambda: wasmtime.WasmtimeError("memory.grow refused"), ComponentTrapped),
}

CALLS = {
    "validate": lambda p: p.validate("t", {}),
    "read": lambda p: p.read("t", "id"),
    "create": lambda p: p.create("t", {}),
    "delete": lambda p: p.delete("t", "id"),
    "query": lambda p: p.query("q", {}),
}


def test_failed_calls_discard_the_instance_as_the_policy_vector_says():
    policy = load("policy.json")["failed_calls"]
    enforced = [o for o in policy["outcomes"] if "python" not in o.get("not_enforced", {})]
    assert [o["outcome"] for o in enforced] == list(OUTCOMES)
    assert policy["configured_before"] == list(CALLS)
    for o in enforced:
        make, raised = OUTCOMES[o["outcome"]]
        for name in policy["configured_before"]:
            fail = []
            p, made = fake_provider(fail)
            p.configure({"cluster": "ch-01"})
            fail.append(make())
            with pytest.raises(raised) as e:
                p.read("t", "id")
            start = o.get("text_starts", {}).get("python")
            if start is not None:
                assert str(e.value).startswith(start), str(e.value)
            CALLS[name](p)
            what = f"{o['outcome']}, then {name}"
            if o["discards_instance"]:
                assert len(made) == 2, what
                # A fresh instance, configured with the last config before the call.
                assert made[1] == [("configure", '{"cluster": "ch-01"}'), (name,)], what
            else:
                assert len(made) == 1, f"{what}: the instance is kept"
