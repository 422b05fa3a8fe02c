// Guest calls block their thread (preview2-shim waits on its I/O worker synchronously), so a
// host that must stay responsive runs the provider in its own Worker.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { loadProvider } from '../roster.js';
import { sandboxUrl, symbeeConfig, symbeeDemo } from './support.js';

const LOGIN = 'vvenus@abc-gadgets.com';

/** Counts 5 ms timer ticks on this thread while `work` runs. */
async function ticksDuring(work) {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

test('a provider in a Worker leaves this thread free; on this thread it blocks it', async () => {
  const config = symbeeConfig(sandboxUrl('symbee'));
  const count = 40;

  const worker = new Worker(new URL('./provider-worker.js', import.meta.url), {
    workerData: { config, apiKey: symbeeDemo.API_KEY, login: LOGIN, count },
  });
  let result;
  const inWorker = await ticksDuring(async () => {
    [result] = await once(worker, 'message');
  });
  assert.equal(result.found, count);
  assert.ok(inWorker >= 3, `this thread ticked ${inWorker} times while the worker made ${count} calls in ${result.ms.toFixed(0)} ms`);

  const p = await loadProvider('symbee', { secrets: { api_key: symbeeDemo.API_KEY } });
  p.configure(config);
  const onThisThread = await ticksDuring(async () => {
    for (let i = 0; i < count; i++) p.read('symbee_user', LOGIN);
  });
  assert.equal(onThisThread, 0, 'no timer runs while guest calls hold this thread');
});
