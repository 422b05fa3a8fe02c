"""The vendor sandboxes (host/sim) as the Python tests see them: their URLs, demo ids, and
their HTTP control endpoints (`/_sandbox/...`, documented at the top of host/sim/src/nimbus.rs
and symbee.rs)."""

from __future__ import annotations

import copy
import json
import os
import urllib.request
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[3]
GUESTS = REPO / "target" / "guests" / "wasm32-wasip2" / "guest"


class NimbusDemo:
    """Ids of the Nimbus sandbox's demo seed (host/sim/src/nimbus.rs, `pub mod demo`)."""

    TENANT_ID = "9fce70af-a632-49ca-bc0d-53db5a21c5b3"
    CLIENT_ID = "3b0c7e1e-7a9f-4f3e-9d55-2f1c8a6b4e01"
    CLIENT_SECRET = "sandbox-client-secret"
    OU_SALES = "6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10"
    OU_SUPPORT = "b7e2a9c4-51d3-4f6a-8e0b-7d9c1a2b3e40"
    OU_BOARD = "c3d4e5f6-1a2b-4c3d-9e8f-0a1b2c3d4e50"
    TEMPLATE_USER = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    TEAMS_USER = "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6"


class SymbeeDemo:
    """Names of the Symbee sandbox's demo seed (host/sim/src/symbee.rs, `pub mod demo`)."""

    COMPANY = "abc-gadgets"
    ENV_SAML = "prod"
    ENV_INTERNAL = "lab"
    SECRETS_REGION = "us-east-1"
    API_KEY = "sandbox-api-key-1"
    TEMPLATE = "StandardAgent"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: run these tests through `cargo test -p roster-tests --test python`, "
            "which starts the sandboxes and sets ROSTER_NIMBUS_URL and ROSTER_SYMBEE_URL"
        )
    return value


def wasm(name: str, artifact: str) -> str:
    path = os.environ.get(name) or str(GUESTS / artifact)
    if not Path(path).is_file():
        raise RuntimeError(f"{path} does not exist: build the components with `cargo build -p roster-components`")
    return path


class Sandbox:
    """One running sandbox, driven over HTTP."""

    def __init__(self, url: str, restore_secrets):
        self.url = url.rstrip("/")
        self._restore_secrets = restore_secrets
        self._initial: Optional[dict] = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as reply:
            return json.loads(reply.read() or b"null")

    def state(self) -> dict:
        """`GET /_sandbox/state`: the seed (secrets redacted) plus `stats`."""
        return self.request("GET", "/_sandbox/state")

    def stats(self) -> dict:
        """The counters (they run on across resets: compare before and after)."""
        return self.state()["stats"]

    def seed(self) -> dict:
        """The current state as a seed `PUT /_sandbox/state` takes (stats dropped, secrets restored)."""
        seed = self.state()
        seed.pop("stats", None)
        self._restore_secrets(seed)
        return seed

    def put_state(self, seed: dict) -> None:
        self.request("PUT", "/_sandbox/state", seed)

    def remember(self) -> None:
        """Keeps the current state, for :meth:`reset`."""
        self._initial = self.seed()

    def reset(self) -> None:
        """Back to the remembered state (tokens, rate windows and faults too)."""
        assert self._initial is not None
        self.put_state(copy.deepcopy(self._initial))


def _nimbus_secrets(seed: dict) -> None:
    for tenant in seed["entra"]:
        for app in tenant["apps"]:
            app["client_secret"] = NimbusDemo.CLIENT_SECRET


def _symbee_secrets(seed: dict) -> None:
    for company in seed["companies"]:
        for environment in company["environments"]:
            environment["api_key"] = SymbeeDemo.API_KEY


def nimbus_sandbox() -> Sandbox:
    return Sandbox(env("ROSTER_NIMBUS_URL"), _nimbus_secrets)


def symbee_sandbox() -> Sandbox:
    return Sandbox(env("ROSTER_SYMBEE_URL"), _symbee_secrets)


def nimbus_certificate() -> dict:
    """The secrets of the certificate registered on the demo app, made at test time by
    tests/python.rs (files named by ROSTER_NIMBUS_CERTIFICATE_FILE / ROSTER_NIMBUS_PRIVATE_KEY_FILE)."""
    read = lambda name: Path(env(name)).read_text()
    return {"client_certificate": read("ROSTER_NIMBUS_CERTIFICATE_FILE"), "client_private_key": read("ROSTER_NIMBUS_PRIVATE_KEY_FILE")}


def nimbus_config(url: str) -> dict:
    return {"admin_url": url, "login_url": url, "tenant_id": NimbusDemo.TENANT_ID, "client_id": NimbusDemo.CLIENT_ID}


def symbee_config(url: str, environment: str = SymbeeDemo.ENV_SAML) -> dict:
    return {
        "base_url": url + "/symbee-admin/api/users/",
        "company_code": SymbeeDemo.COMPANY,
        "environment": environment,
        "secrets_region": SymbeeDemo.SECRETS_REGION,
        "sso_mode": "saml",
    }
