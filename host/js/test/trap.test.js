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

test("a component's stderr is redacted: a panic that prints a secret prints [redacted]", async () => {
  // In a child process, to see exactly what reaches its stderr.
  const { spawnSync } = await import('node:child_process');
  const secret = 'hunter2-vault-token-0f3c';
  const script = `
    import { loadProvider } from ${JSON.stringify(new URL('../roster.js', import.meta.url).href)};
    const p = await loadProvider('misbehave', { secrets: { token: ${JSON.stringify(secret)} } });
    p.configure({ hosts: [] });
    try { p.create('panic', { secret: 'token' }); } catch (e) { console.log('trapped:', e.constructor.name); }
  `;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /trapped: RuntimeError/);
  assert.match(out.stderr, /about to leak \[redacted\]/, out.stderr);
  assert.ok(!out.stderr.includes(secret), `the secret reached stderr: ${out.stderr}`);
  assert.ok(!out.stderr.includes(Buffer.from(secret).toString('base64')), 'nor base64-encoded');
});
