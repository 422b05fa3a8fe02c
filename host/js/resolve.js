// Resolving host names synchronously. A provider's calls are synchronous (jco's sync
// instantiation), and so is `configure`, which checks what the allow-list's host names resolve
// to (address.js, `refusedNames`); Node's resolver is asynchronous, so a short-lived worker
// thread resolves and this thread waits for it, as preview2-shim does for its own I/O.

import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';

const LOOKUP = `
const { workerData: { hosts, port, done } } = require('node:worker_threads');
const { lookup } = require('node:dns/promises');
Promise.all(hosts.map((h) => lookup(h, { all: true, verbatim: true }).then((a) => a.map((x) => x.address), () => [])))
  .then((answers) => {
    port.postMessage(answers);
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
  });
`;

/**
 * The addresses each of `hosts` resolves to now, in order (none for a name that does not
 * resolve, or not within `timeoutMs`: then there is nothing to check).
 * @param {string[]} hosts
 * @param {number} [timeoutMs]
 * @returns {string[][]}
 */
export function resolveNow(hosts, timeoutMs = 5_000) {
  if (hosts.length === 0) return [];
  const done = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(LOOKUP, { eval: true, workerData: { hosts, port: port2, done }, transferList: [port2] });
  try {
    Atomics.wait(done, 0, 0, timeoutMs);
    return receiveMessageOnPort(port1)?.message ?? hosts.map(() => []);
  } finally {
    port1.close();
    worker.terminate();
  }
}
