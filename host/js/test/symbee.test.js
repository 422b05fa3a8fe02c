// Symbee Connect, transpiled by jco, against the Symbee sandbox.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadProvider } from '../roster.js';
import { assertTranspiledFromCurrentWasm, providerError, sandboxUrl, symbeeConfig, symbeeDemo as demo } from './support.js';

let url;
before(() => {
  url = sandboxUrl('symbee');
});

function astronaut(login, inConnect) {
  return {
    login_user_id: login,
    first_name: 'Mike',
    last_name: 'Mars',
    user_template_name: demo.TEMPLATE,
    create_in_amazon_connect: inConnect,
  };
}

test('gen/symbee is the component the Rust host runs', () => {
  assertTranspiledFromCurrentWasm('symbee');
});

test('configure → create → read → delete in Symbee only', async () => {
  const p = await loadProvider('symbee', { secrets: { api_key: demo.API_KEY } });
  p.configure(symbeeConfig(url));
  assert.deepEqual(p.allowedHosts, [url]);

  const login = 'mmars@abc-gadgets.com';
  assert.equal(p.read('symbee_user', login), null);
  const created = p.create('symbee_user', astronaut(login, false));
  assert.equal(created.connect_user_id, null);
  assert.equal(created.amazon_connect_status, 'NOT_FOUND');
  assert.equal(created.first_name, 'Mike');
  assert.deepEqual(p.read('symbee_user', login), {
    login_user_id: login,
    create_in_amazon_connect: false,
    amazon_connect_status: 'NOT_FOUND',
    connect_user_id: null,
  });
  assert.equal(p.read('symbee_user', 'MMARS@abc-gadgets.com'), null, 'login ids are case-sensitive');

  const again = providerError(() => p.create('symbee_user', astronaut(login, false)));
  assert.equal(again.tag, 'already-exists');
  assert.equal(again.payload, 'ALREADY_EXISTS: User already exists');

  p.delete('symbee_user', login);
  assert.equal(p.read('symbee_user', login), null);
  assert.equal(providerError(() => p.delete('symbee_user', login)).tag, 'not-found');
});

test('configure → create in Amazon Connect too → read → delete from both', async () => {
  const p = await loadProvider('symbee', { secrets: { api_key: demo.API_KEY } });
  p.configure(JSON.stringify(symbeeConfig(url)));
  const login = 'jjupiter@abc-gadgets.com';
  const created = p.create('symbee_user', JSON.stringify(astronaut(login, true)));
  assert.equal(typeof created.connect_user_id, 'string');
  assert.equal(created.amazon_connect_status, 'EXISTS');
  const read = p.read('symbee_user', login);
  assert.equal(read.connect_user_id, created.connect_user_id);
  assert.equal(read.create_in_amazon_connect, true);
  p.delete('symbee_user', login);
  assert.equal(p.read('symbee_user', login), null);
});

test('validate needs no network and names the field', async () => {
  const p = await loadProvider('symbee', { secrets: {} });
  p.configure(symbeeConfig(url));
  assert.deepEqual(p.validate('symbee_user', astronaut('vvenus@abc-gadgets.com', false)), []);
  const problems = p.validate('symbee_user', { first_name: 'Vera' });
  assert.ok(problems.some((f) => f.field === 'login_user_id'), JSON.stringify(problems));
  assert.deepEqual(p.denied, []);
});
