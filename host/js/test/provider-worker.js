// Runs a Symbee provider in a worker thread (see worker.test.js): reads `login` `count` times.

import { parentPort, workerData } from 'node:worker_threads';
import { loadProvider } from '../roster.js';

const { config, apiKey, login, count } = workerData;
const p = await loadProvider('symbee', { secrets: { api_key: apiKey } });
p.configure(config);
const started = performance.now();
let found = 0;
for (let i = 0; i < count; i++) if (p.read('symbee_user', login) !== null) found++;
parentPort.postMessage({ found, ms: performance.now() - started });
