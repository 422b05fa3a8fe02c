"""Fixtures: the two sandboxes (reset before every test) and configured providers.

The sandboxes are started by tests/python.rs (`cargo test -p roster-tests --test python`), which
passes their URLs in ROSTER_NIMBUS_URL / ROSTER_SYMBEE_URL and the components' paths in
ROSTER_NIMBUS_WASM / ROSTER_SYMBEE_WASM / ROSTER_MISBEHAVE_WASM.
"""

import pytest

from roster_provider import Provider
from sandbox import NimbusDemo, SymbeeDemo, nimbus_config, nimbus_sandbox, symbee_config, symbee_sandbox, wasm


@pytest.fixture(scope="session")
def nimbus_wasm():
    return wasm("ROSTER_NIMBUS_WASM", "roster_nimbus.wasm")


@pytest.fixture(scope="session")
def symbee_wasm():
    return wasm("ROSTER_SYMBEE_WASM", "roster_symbee.wasm")


@pytest.fixture(scope="session")
def misbehave_wasm():
    return wasm("ROSTER_MISBEHAVE_WASM", "roster_test_programs.wasm")


@pytest.fixture(scope="session")
def _sandboxes():
    nimbus, symbee = nimbus_sandbox(), symbee_sandbox()
    nimbus.remember()
    symbee.remember()
    return nimbus, symbee


@pytest.fixture
def nimbus_box(_sandboxes):
    """The Nimbus sandbox, reset to its demo state."""
    _sandboxes[0].reset()
    return _sandboxes[0]


@pytest.fixture
def symbee_box(_sandboxes):
    """The Symbee sandbox, reset to its demo state."""
    _sandboxes[1].reset()
    return _sandboxes[1]


@pytest.fixture
def nimbus(nimbus_wasm, nimbus_box):
    """A Nimbus provider configured for the sandbox."""
    p = Provider(nimbus_wasm, secrets={"client_secret": NimbusDemo.CLIENT_SECRET}, allowed_hosts=[nimbus_box.url], trust_declared_hosts=True)
    p.configure(nimbus_config(nimbus_box.url))
    return p


@pytest.fixture
def symbee(symbee_wasm, symbee_box):
    """A Symbee provider configured for the sandbox's SAML environment."""
    p = Provider(symbee_wasm, secrets={"api_key": SymbeeDemo.API_KEY}, allowed_hosts=[symbee_box.url], trust_declared_hosts=True)
    p.configure(symbee_config(symbee_box.url))
    return p
