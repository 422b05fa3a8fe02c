// Secrets never echo back: behind a gateway whose 502 page echoes each request (credentials
// included), the errors this host throws hold no secret value, no Basic credentials and no
// bearer token — each is `[redacted]`, as in Roster's host.
// It changes the shared sandboxes' faults (and clears them after): `npm test` runs files one at a time.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadProvider } from '../roster.js';
import { nimbusConfig, nimbusDemo, providerError, sandboxUrl, symbeeConfig, symbeeDemo } from './support.js';

const ECHO = { error_rate: 1.0, error_status: 502, echo: true };
let nimbusUrl;
let symbeeUrl;

/** Sets a sandbox's faults through its control endpoint. */
async function faults(url, routes) {
  const reply = await fetch(`${url}/_sandbox/faults`, { method: 'PUT', body: JSON.stringify({ routes }), headers: { 'content-type': 'application/json' } });
  assert.equal(reply.status, 200);
}

before(() => {
  nimbusUrl = sandboxUrl('nimbus');
  symbeeUrl = sandboxUrl('symbee');
});

after(async () => {
  await faults(nimbusUrl, {});
  await faults(symbeeUrl, {});
});

function assertClean(err, leaks) {
  const text = `${err.message} ${JSON.stringify(err.payload)}`;
  assert.match(text, /sandbox fault: echo/);
  assert.match(text, /\[redacted\]/);
  for (const leak of leaks) assert.ok(!text.includes(leak), `leaked ${leak}: ${text}`);
}

test('nimbus: the token endpoint echoing the client secret leaks nothing', async () => {
  await faults(nimbusUrl, { token: ECHO });
  const p = await loadProvider('nimbus', { secrets: { client_secret: nimbusDemo.CLIENT_SECRET } });
  p.configure(nimbusConfig(nimbusUrl));
  const basic = Buffer.from(`${nimbusDemo.CLIENT_ID}:${nimbusDemo.CLIENT_SECRET}`).toString('base64');
  assertClean(providerError(() => p.read('nimbus_user', nimbusDemo.TEMPLATE_USER)), [nimbusDemo.CLIENT_SECRET, basic]);
});

test('nimbus: the API echoing the bearer token leaks nothing', async () => {
  await faults(nimbusUrl, { get: ECHO });
  const p = await loadProvider('nimbus', { secrets: { client_secret: nimbusDemo.CLIENT_SECRET } });
  p.configure(nimbusConfig(nimbusUrl));
  assertClean(providerError(() => p.read('nimbus_user', nimbusDemo.TEMPLATE_USER)), ['sbx-', nimbusDemo.CLIENT_SECRET]);
});

test('symbee: echoing the API key leaks nothing', async () => {
  await faults(symbeeUrl, { '*': ECHO });
  const p = await loadProvider('symbee', { secrets: { api_key: symbeeDemo.API_KEY } });
  p.configure(symbeeConfig(symbeeUrl));
  assertClean(providerError(() => p.read('symbee_user', 'vvenus@abc-gadgets.com')), [symbeeDemo.API_KEY]);
});
