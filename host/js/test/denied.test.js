// Outgoing HTTP is restricted to the allow-list: a request elsewhere fails with the wasi:http
// error-code HTTP-request-denied, which the component reports as provider-error `denied`.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadProvider } from '../roster.js';
import { nimbusConfig, nimbusDemo, providerError, sandboxUrl, symbeeConfig, symbeeDemo } from './support.js';

const USER = '5e6f7081-92a3-44b5-c6d7-e8f90a1b2c34';

let nimbusUrl;
let symbeeUrl;
before(() => {
  nimbusUrl = sandboxUrl('nimbus');
  symbeeUrl = sandboxUrl('symbee');
});

test('nimbus: a login host left out of the allow-list is denied, naming the host', async () => {
  // The same sandbox, named `localhost` for logins: the component asks for both origins, and the
  // allowedHosts function keeps only the admin one.
  const { port } = new URL(nimbusUrl);
  const loginUrl = `http://localhost:${port}`;
  const secrets = { client_secret: nimbusDemo.CLIENT_SECRET };
  let requested;
  const narrowed = await loadProvider('nimbus', {
    secrets,
    allowedHosts: (hosts) => {
      requested = hosts;
      return hosts.filter((h) => h !== loginUrl);
    },
  });
  narrowed.configure(nimbusConfig(nimbusUrl, loginUrl));
  assert.deepEqual(requested, [nimbusUrl, loginUrl]);
  assert.deepEqual(narrowed.allowedHosts, [nimbusUrl]);

  const err = providerError(() => narrowed.read('nimbus_user', USER));
  assert.equal(err.tag, 'denied');
  assert.match(err.message, new RegExp(`request to localhost:${port} denied`));
  assert.deepEqual(narrowed.denied, [`localhost:${port}`]);

  // Another instance of the same component, with the full list, reaches the sandbox meanwhile.
  const full = await loadProvider('nimbus', { secrets });
  full.configure(nimbusConfig(nimbusUrl, loginUrl));
  assert.equal(full.read('nimbus_user', USER), null);
  assert.deepEqual(full.denied, []);
  assert.equal(providerError(() => narrowed.read('nimbus_user', USER)).tag, 'denied', 'the lists stay apart');
});

test('symbee: an allow-list of other hosts denies the sandbox (scheme and port count)', async () => {
  const { port } = new URL(symbeeUrl);
  const p = await loadProvider('symbee', {
    secrets: { api_key: symbeeDemo.API_KEY },
    allowedHosts: () => [`https://127.0.0.1:${port}`, '127.0.0.1', 'symbeeconnect.com:9443'],
  });
  p.configure(symbeeConfig(symbeeUrl));
  const err = providerError(() => p.read('symbee_user', 'mmars@abc-gadgets.com'));
  assert.equal(err.tag, 'denied');
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.deepEqual(p.denied, [`127.0.0.1:${port}`]);
});

test('extra hosts are added to those the component asks for; a bad one is invalid-config', async () => {
  const p = await loadProvider('symbee', { secrets: {}, allowedHosts: ['https://*.example.com', 'api.example.org:8443'] });
  p.configure(symbeeConfig(symbeeUrl));
  assert.deepEqual(p.allowedHosts, [symbeeUrl, 'https://*.example.com', 'api.example.org:8443']);

  const bad = await loadProvider('symbee', { secrets: {}, allowedHosts: ['ftp://files.example.com'] });
  const err = providerError(() => bad.configure(symbeeConfig(symbeeUrl)));
  assert.equal(err.tag, 'invalid-config');
  assert.equal(err.field, 'allowed_hosts');
  assert.match(err.message, /scheme must be http or https/);
});

test('the private-network rule: a metadata IP the component asks for is denied unless the embedder grants it', async () => {
  // The component asks for its login host; pointed at the cloud metadata address, that alone
  // never reaches it (as in Roster's host). The admin host stays the sandbox (loopback, named
  // by its IP: allowed).
  const metadata = 'http://169.254.169.254';
  const secrets = { client_secret: nimbusDemo.CLIENT_SECRET };
  const asked = await loadProvider('nimbus', { secrets });
  asked.configure(nimbusConfig(nimbusUrl, metadata));
  const err = providerError(() => asked.read('nimbus_user', USER));
  assert.equal(err.tag, 'denied');
  assert.equal(asked.denied.length, 1);
  assert.match(asked.denied[0], /^169\.254\.169\.254 \(169\.254\.169\.254 is a cloud-metadata address; .*a component cannot grant it to itself/);

  // Granted by the embedder, the rule lets it through (and the request, with nowhere to go
  // here, fails as unavailable, not denied).
  const granted = await loadProvider('nimbus', { secrets, allowedHosts: [metadata], timeouts: { connectMs: 500, firstByteMs: 1000 } });
  granted.configure(nimbusConfig(nimbusUrl, metadata));
  assert.notEqual(providerError(() => granted.read('nimbus_user', USER)).tag, 'denied');
  assert.deepEqual(granted.denied, []);

  // So does allowPrivateNetworks.
  const opted = await loadProvider('nimbus', { secrets, allowPrivateNetworks: true, timeouts: { connectMs: 500, firstByteMs: 1000 } });
  opted.configure(nimbusConfig(nimbusUrl, metadata));
  assert.notEqual(providerError(() => opted.read('nimbus_user', USER)).tag, 'denied');
  assert.deepEqual(opted.denied, []);
});

test('a host name that resolves to a private network is refused at configure, unless opted in', async () => {
  // `127.1` is no IP address to this host, but the resolver reads it as 127.0.0.1: without the
  // check at configure, preview2-shim would connect there.
  const { port } = new URL(symbeeUrl);
  const named = `http://127.1:${port}`;
  const secrets = { api_key: symbeeDemo.API_KEY };
  const p = await loadProvider('symbee', { secrets });
  const err = providerError(() => p.configure(symbeeConfig(named)));
  assert.equal(err.tag, 'denied');
  assert.match(err.message, /127\.1 resolves to 127\.0\.0\.1, a loopback address/);
  assert.deepEqual(p.allowedHosts, [], 'a refused configure leaves the list empty');

  const opted = await loadProvider('symbee', { secrets, allowPrivateNetworks: true });
  opted.configure(symbeeConfig(named));
  assert.deepEqual(opted.allowedHosts, [named]);
  assert.equal(opted.read('symbee_user', 'nobody@abc-gadgets.com'), null, 'the sandbox answers (no such user) through the name');
  assert.deepEqual(opted.denied, []);
});
