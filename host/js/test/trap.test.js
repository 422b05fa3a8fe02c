// A trap (here a guest panic) discards the instance, as Roster's host does: the next call runs
// on a new instance, configured again. Uses guest/test-programs (`misbehave`), which
// `ROSTER_MISBEHAVE_WASM=… npm run build` transpiles into gen/misbehave/.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, test } from 'node:test';
import { loadProvider } from '../roster.js';
import { providerError } from './support.js';

before(() => {
  assert.ok(
    existsSync(new URL('../gen/misbehave/provider.js', import.meta.url)),
    'gen/misbehave is missing: build with ROSTER_MISBEHAVE_WASM set (`cargo test -p roster-tests --test js` does)',
  );
});

test('after a trap the next call gets a new instance, configured again', async () => {
  const p = await loadProvider('misbehave', { secrets: { token: 'abc' } });
  p.configure({ hosts: [] });
  assert.deepEqual(p.read('calls', ''), { calls: 2 }, 'configure and this read');
  assert.deepEqual(p.read('calls', ''), { calls: 3 });

  assert.throws(() => p.create('panic', {}), WebAssembly.RuntimeError);
  assert.equal(p.discardedInstances, 1);

  assert.deepEqual(p.read('calls', ''), { calls: 2 }, 'a new instance: configure again, then this read');
  assert.equal(p.discardedInstances, 1);
});

test('secrets reach the component; a missing one is its secret-error, not a crash', async () => {
  const p = await loadProvider('misbehave', { secrets: { token: 'abc' } });
  p.configure({ hosts: [] });
  assert.deepEqual(p.create('secret', { name: 'token' }), { length: 3, value: 'abc' });
  assert.deepEqual(p.create('secret', { name: 'token', fresh: true }), { length: 3, value: 'abc' });
  const missing = providerError(() => p.create('secret', { name: 'other' }));
  assert.match(missing.message, /NotFound/);

  const failing = await loadProvider('misbehave', {
    secrets: {
      get() {
        throw new Error('vault sealed');
      },
    },
  });
  failing.configure({ hosts: [] });
  assert.match(providerError(() => failing.create('secret', { name: 'token' })).message, /Unavailable.*vault sealed/);
  assert.equal(failing.discardedInstances, 0);
});
