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
    table = {"metadata.internal": ["169.254.169.254"], "db.internal": ["10.0.0.5"], "api.example.com": ["93.184.216.34"], "localhost": ["127.0.0.1"]}
    asked = []

    def resolve(host, port):
        asked.append((host, port))
        return table.get(host, [])

    entries = [AllowedHost.parse(e) for e in ["https://api.example.com", "http://metadata.internal", "db.internal:5432", "http://localhost:8080", "10.0.0.7", "[::1]:9", "*.example.org", "nowhere.invalid"]]
    refused = refused_names(entries, False, resolve)
    assert len(refused) == 2, refused
    assert refused[0].startswith("metadata.internal resolves to 169.254.169.254, a cloud-metadata address")
    assert refused[1].startswith("db.internal resolves to 10.0.0.5, a private address")
    # IP addresses and wildcards are not resolved; ports default by scheme.
    assert asked == [("api.example.com", 443), ("metadata.internal", 80), ("db.internal", 5432), ("localhost", 8080), ("nowhere.invalid", 443)]
    assert refused_names(entries, True, resolve) == []
