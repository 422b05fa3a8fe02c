"""The golden vectors in tests/vectors/, which the Rust and Node hosts run too: the allow-list
rule, the private-network rule, the error mapping, and redaction."""

import json
from pathlib import Path

import pytest
from wasmtime import component as wc

from roster_provider import AllowedHost, AllowList, ProviderError, _error
from roster_provider.address import check_address, classify, refused_names
from roster_provider.redact import forms, redact_with

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
