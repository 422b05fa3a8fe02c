// Nimbus, transpiled by jco, against the Nimbus sandbox (Entra token endpoint and API on one URL).

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { envSecrets, loadProvider } from '../roster.js';
import {
  assertTranspiledFromCurrentWasm,
  nimbusCertificate,
  nimbusConfig,
  nimbusDemo as demo,
  providerError,
  sandboxStats,
  sandboxUrl,
} from './support.js';

const NEW_USER = '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901';
const COPIED_USER = '3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12';
const REFRESHED_USER = '4d5e6f70-8192-43a4-b5c6-d7e8f90a1b23';
const CERT_USER = '5e6f7081-92a3-44b5-86c7-e8f90a1b2c34';

let url;
before(() => {
  url = sandboxUrl('nimbus');
});

function licencesUsed(p) {
  const usage = p.query('nimbus_license_usage', {});
  const cc = usage.licenses.find((l) => l.license_type === 'Contact Center');
  assert.equal(cc.total, cc.used + cc.available);
  return cc.used;
}

test('gen/nimbus is the component the Rust host runs', () => {
  assertTranspiledFromCurrentWasm('nimbus');
});

test('metadata needs no config and no network', async () => {
  const p = await loadProvider('nimbus', { secrets: {} });
  const m = p.metadata();
  assert.equal(m.name, 'nimbus');
  assert.deepEqual(m.secrets.map((s) => s.name), ['client_secret', 'client_certificate', 'client_private_key', 'federated_token']);
  assert.deepEqual(m.resources.map((r) => r.typeName), ['nimbus_user']);
  assert.deepEqual(m.rateLimit, { operations: 60, perSeconds: 60 });
  assert.deepEqual(p.allowedHosts, [], 'nothing is allowed before configure');
});

test('configure → create → read → delete, with client_secret from ROSTER_SECRET_CLIENT_SECRET', async () => {
  process.env.ROSTER_SECRET_CLIENT_SECRET = demo.CLIENT_SECRET;
  try {
    const p = await loadProvider('nimbus');
    p.configure(nimbusConfig(url));
    assert.deepEqual(p.allowedHosts, [url], 'admin_url and login_url share one origin');

    const before = licencesUsed(p);
    assert.equal(p.read('nimbus_user', NEW_USER), null);

    const created = p.create('nimbus_user', { o365_id: NEW_USER, organization_unit_id: demo.OU_SALES });
    assert.equal(created.o365_id, NEW_USER);
    assert.equal(created.organization_unit_id, demo.OU_SALES);
    assert.equal(created.assignment_type, 'SkillBased');
    assert.deepEqual(created.roles, [], 'a created user is empty (unconfigured)');
    assert.equal(licencesUsed(p), before + 1, 'create takes a licence');

    assert.deepEqual(p.read('nimbus_user', NEW_USER), created);

    const again = providerError(() => p.create('nimbus_user', { o365_id: NEW_USER, organization_unit_id: demo.OU_SALES }));
    assert.equal(again.tag, 'already-exists');
    assert.match(again.message, /User already exists/);

    p.delete('nimbus_user', NEW_USER);
    assert.equal(p.read('nimbus_user', NEW_USER), null);
    assert.equal(licencesUsed(p), before, 'delete frees the licence');
    assert.equal(providerError(() => p.delete('nimbus_user', NEW_USER)).tag, 'not-found');
    assert.deepEqual(p.denied, []);
  } finally {
    delete process.env.ROSTER_SECRET_CLIENT_SECRET;
  }
});

test('copy_from takes the template user settings', async () => {
  const p = await loadProvider('nimbus', { secrets: { client_secret: demo.CLIENT_SECRET } });
  p.configure(nimbusConfig(url));
  const copied = p.create('nimbus_user', { o365_id: COPIED_USER, copy_from: demo.TEMPLATE_USER });
  assert.equal(copied.organization_unit_id, demo.OU_SALES, 'the copy takes the source OU');
  assert.deepEqual(copied.roles, ['Team Owner', 'Agent']);
  assert.equal(copied.copy_from, undefined, 'create-only attributes are not read back');
  p.delete('nimbus_user', COPIED_USER);
});

test('a rejected secret is fetched again with secrets.refresh, once', async () => {
  const calls = [];
  const secrets = {
    get(name) {
      calls.push(`get ${name}`);
      return name === 'client_secret' ? 'a-rotated-away-secret' : undefined; // undefined: not-found
    },
    refresh(name) {
      calls.push(`refresh ${name}`);
      return demo.CLIENT_SECRET;
    },
  };
  const p = await loadProvider('nimbus', { secrets });
  p.configure(nimbusConfig(url));
  // configure asks for the other credentials' secrets, to refuse a second credential.
  const probes = ['get client_certificate', 'get client_private_key', 'get federated_token'];
  assert.deepEqual(calls, probes);
  const created = p.create('nimbus_user', { o365_id: REFRESHED_USER, organization_unit_id: demo.OU_SALES });
  assert.equal(created.o365_id, REFRESHED_USER);
  assert.deepEqual(calls, [...probes, 'get client_secret', 'refresh client_secret']);
  p.delete('nimbus_user', REFRESHED_USER);
  assert.deepEqual(calls, [...probes, 'get client_secret', 'refresh client_secret'], 'the token is kept');
});

test('a certificate credential: the assertion is signed inside the component', async () => {
  const { certificate, privateKey } = nimbusCertificate();
  const p = await loadProvider('nimbus', { secrets: { client_certificate: certificate, client_private_key: privateKey } });
  p.configure({ ...nimbusConfig(url), credential: 'certificate' });
  const before = await sandboxStats(url);
  const created = p.create('nimbus_user', { o365_id: CERT_USER, organization_unit_id: demo.OU_SALES });
  assert.equal(created.o365_id, CERT_USER);
  p.delete('nimbus_user', CERT_USER);
  const after = await sandboxStats(url);
  const ps256 = (s) => s.client_assertions['certificate PS256'] ?? 0;
  assert.equal(ps256(after), ps256(before) + 1, 'one PS256 assertion got the token');
});

test('a certificate and a client secret together are invalid-config naming the secret', async () => {
  const { certificate, privateKey } = nimbusCertificate();
  const secrets = { client_secret: demo.CLIENT_SECRET, client_certificate: certificate, client_private_key: privateKey };
  const p = await loadProvider('nimbus', { secrets });
  const err = providerError(() => p.configure({ ...nimbusConfig(url), credential: 'certificate' }));
  assert.equal(err.tag, 'invalid-config');
  assert.equal(err.field, 'client_secret');
  assert.doesNotMatch(err.message, /PRIVATE KEY/);
});

test('a missing secret is invalid-config naming the variable to set', async () => {
  const p = await loadProvider('nimbus', { secrets: envSecrets({}) });
  p.configure(nimbusConfig(url));
  const err = providerError(() => p.read('nimbus_user', NEW_USER));
  assert.equal(err.tag, 'invalid-config');
  assert.equal(err.field, 'client_secret');
  assert.match(err.message, /ROSTER_SECRET_CLIENT_SECRET/);
});

test('a bad config is invalid-config naming the key', async () => {
  const p = await loadProvider('nimbus', { secrets: {} });
  const err = providerError(() => p.configure({ ...nimbusConfig(url), tenant_id: 'not-a-guid' }));
  assert.equal(err.tag, 'invalid-config');
  assert.equal(err.field, 'tenant_id');
  assert.deepEqual(p.allowedHosts, [], 'a failed configure allows nothing');
});
