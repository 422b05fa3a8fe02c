// Shared by the tests: the sandboxes' URLs and demo seeds (host/sim/src/{nimbus,symbee}.rs),
// and a check that gen/ was transpiled from the component the Rust host runs.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** `roster_sim::nimbus::demo`. */
export const nimbusDemo = Object.freeze({
  TENANT_ID: '9fce70af-a632-49ca-bc0d-53db5a21c5b3',
  CLIENT_ID: '3b0c7e1e-7a9f-4f3e-9d55-2f1c8a6b4e01',
  CLIENT_SECRET: 'sandbox-client-secret',
  OU_SALES: '6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10',
  TEMPLATE_USER: '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0',
});

/** `roster_sim::symbee::demo`. */
export const symbeeDemo = Object.freeze({
  COMPANY: 'abc-gadgets',
  ENV_SAML: 'prod',
  SECRETS_REGION: 'us-east-1',
  API_KEY: 'sandbox-api-key-1',
  TEMPLATE: 'StandardAgent',
});

/** A sandbox's base URL from the environment; the Rust test `tests/js.rs` sets them. */
export function sandboxUrl(vendor) {
  const name = `ROSTER_${vendor.toUpperCase()}_URL`;
  const url = process.env[name];
  assert.ok(url, `${name} is not set: run these tests with \`cargo test -p roster-tests --test js\`, which starts the sandboxes`);
  return url.replace(/\/$/, '');
}

/** The Nimbus config for the sandbox at `url` (as tests/support/lib.rs `nimbus_provider`). */
export function nimbusConfig(url, loginUrl = url) {
  return { admin_url: url, login_url: loginUrl, tenant_id: nimbusDemo.TENANT_ID, client_id: nimbusDemo.CLIENT_ID };
}

/**
 * The certificate registered on the sandbox's demo app and its PKCS#8 key, made at test time by
 * tests/js.rs (files named by ROSTER_NIMBUS_CERTIFICATE_FILE and ROSTER_NIMBUS_PRIVATE_KEY_FILE).
 */
export function nimbusCertificate() {
  const read = (name) => {
    const path = process.env[name];
    assert.ok(path, `${name} is not set: run these tests with \`cargo test -p roster-tests --test js\``);
    return readFileSync(path, 'utf8');
  };
  return { certificate: read('ROSTER_NIMBUS_CERTIFICATE_FILE'), privateKey: read('ROSTER_NIMBUS_PRIVATE_KEY_FILE') };
}

/** The sandbox's counters (`GET /_sandbox/state`). */
export async function sandboxStats(url) {
  const reply = await fetch(`${url}/_sandbox/state`);
  assert.equal(reply.status, 200);
  return (await reply.json()).stats;
}

/** The Symbee config for the sandbox at `url` (as tests/support/lib.rs `symbee_provider`). */
export function symbeeConfig(url) {
  return {
    base_url: `${url}/symbee-admin/api/users/`,
    company_code: symbeeDemo.COMPANY,
    environment: symbeeDemo.ENV_SAML,
    secrets_region: symbeeDemo.SECRETS_REGION,
    sso_mode: 'saml',
  };
}

/** Asserts gen/<vendor> was transpiled from ROSTER_<VENDOR>_WASM as it is now. */
export function assertTranspiledFromCurrentWasm(vendor) {
  const source = JSON.parse(readFileSync(new URL(`../gen/${vendor}/source.json`, import.meta.url), 'utf8'));
  const wasm = process.env[`ROSTER_${vendor.toUpperCase()}_WASM`] || source.wasm;
  const sha256 = createHash('sha256').update(readFileSync(wasm)).digest('hex');
  assert.equal(source.wasm, wasm, `gen/${vendor} came from another file; run \`npm run build\``);
  assert.equal(source.sha256, sha256, `${wasm} changed since gen/${vendor} was transpiled; run \`npm run build\``);
}

/** Calls `fn` and returns the ProviderError it throws. */
export function providerError(fn) {
  try {
    fn();
  } catch (e) {
    assert.equal(e.name, 'ProviderError', `expected a ProviderError, got ${e?.stack ?? e}`);
    return e;
  }
  assert.fail('expected a ProviderError, got success');
}
