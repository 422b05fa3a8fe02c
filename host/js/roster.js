// Roster's provider components in Node: the `.wasm` files the Rust host runs, transpiled by jco
// (`npm run build`, see build.js) and instantiated here with Roster's capabilities:
// secrets supplied in JavaScript and outgoing HTTP restricted to the provider's hosts.
//
//   import { loadProvider } from './roster.js';
//   const nimbus = await loadProvider('nimbus');           // secrets from ROSTER_SECRET_* env vars
//   nimbus.configure({ admin_url, login_url, tenant_id, client_id });
//   const user = nimbus.create('nimbus_user', { o365_id, organization_unit_id });
//
// Every loadProvider call makes its own instance with its own secrets and allow-list (jco's
// `--instantiation sync` output, see build.js), so several providers, of one vendor or several,
// can live side by side.

import { readFile, readdir } from 'node:fs/promises';
import * as cli from '@bytecodealliance/preview2-shim/cli';
import * as clocks from '@bytecodealliance/preview2-shim/clocks';
import * as http from '@bytecodealliance/preview2-shim/http';
import * as io from '@bytecodealliance/preview2-shim/io';
import * as random from '@bytecodealliance/preview2-shim/random';
import { namedHosts, refusedNames } from './address.js';
import { AllowList, AllowedHost } from './allowlist.js';
import { allowListedHandler } from './http.js';
import { Redactor } from './redact.js';
import { resolveNow } from './resolve.js';
import { secretsImport } from './secrets.js';

export { AllowList, AllowedHost } from './allowlist.js';
export { REDACTED } from './redact.js';
export { SecretError, envSecrets, envVarFor, staticSecrets } from './secrets.js';
export { DEFAULT_TIMEOUTS } from './http.js';

/** Where `npm run build` puts the transpiled components: `gen/<vendor>/`. */
export const GEN_DIR = new URL('./gen/', import.meta.url);

/** A provider-error from the component, as a JavaScript Error. */
export class ProviderError extends Error {
  /**
   * @param {{tag: string, val: any}} payload the WIT `provider-error` variant as jco gives it
   */
  constructor(payload) {
    const { tag, val } = payload;
    const text =
      typeof val === 'string' ? val : val?.field !== undefined ? `${val.field ? `${val.field}: ` : ''}${val.message}` : val?.message;
    super(`${tag}: ${text}`);
    this.name = 'ProviderError';
    /** `invalid-config`, `invalid-input`, `unauthorized`, `forbidden`, `not-found`,
     * `already-exists`, `rate-limited`, `unavailable`, `denied` or `vendor`. */
    this.tag = tag;
    /** The variant's payload as jco gives it (u64 `retryAfterMs` is a BigInt there). */
    this.payload = val;
    if (val?.field !== undefined) this.field = val.field;
    if (tag === 'rate-limited' && val.retryAfterMs !== undefined) this.retryAfterMs = Number(val.retryAfterMs);
    if (tag === 'vendor') this.status = val.status;
  }
}

/** A provider-error payload with every secret the redactor knows replaced by `[redacted]`. */
function redactPayload({ tag, val }, redactor) {
  if (typeof val === 'string') return { tag, val: redactor.redact(val) };
  return { tag, val: { ...val, message: redactor.redact(val.message) } };
}

/**
 * A `wasi:cli/stderr` stream whose lines reach the process's stderr with every secret the
 * redactor knows replaced by `[redacted]` (a component's panic message, say, may quote one).
 * preview2-shim's own stderr writes straight through; this object passes jco's resource check
 * (an OutputStream by prototype) and never touches the shim's private state.
 */
function redactingStderr(redactor) {
  const real = cli.stderr.getStderr();
  let pending = '';
  const decoder = new TextDecoder();
  const emit = (text) => process.stderr.write(redactor.redact(text));
  const write = (buf) => {
    pending += decoder.decode(buf, { stream: true });
    const end = pending.lastIndexOf('\n');
    if (end >= 0) {
      emit(pending.slice(0, end + 1));
      pending = pending.slice(end + 1);
    }
    // A line that never ends is let out in pieces, each redacted (4 KiB at most held back).
    if (pending.length > 4096) {
      emit(pending);
      pending = '';
    }
  };
  const flush = () => {
    if (pending) emit(pending);
    pending = '';
  };
  const stream = Object.create(io.streams.OutputStream.prototype);
  Object.assign(stream, {
    checkWrite: () => 4096n,
    write,
    blockingWriteAndFlush: (buf) => {
      write(buf);
    },
    flush,
    blockingFlush: flush,
    subscribe: () => real.subscribe(),
    [Symbol.dispose]: flush,
    [Symbol.for('dispose')]: flush,
  });
  return { getStderr: () => stream };
}

/** The wasi interfaces a provider may import, from preview2-shim, minus what Roster withholds. */
function wasiImports(redactor) {
  return {
    // No host environment, arguments or working directory: the shim's defaults would hand the
    // component all of process.env (secrets included) and process.argv.
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    // preview2-shim's exit ends the Node process; a component may only end its own call.
    'wasi:cli/exit': {
      exit() {
        throw new Error('the component called wasi:cli/exit');
      },
    },
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    // The component's stderr, redacted (Roster's host redacts it too).
    'wasi:cli/stderr': redactingStderr(redactor),
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:clocks/monotonic-clock': clocks.monotonicClock,
    'wasi:clocks/wall-clock': clocks.wallClock,
    'wasi:http/types': http.types,
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': io.streams,
    'wasi:random/random': random.random,
    'wasi:random/insecure': random.insecure,
    'wasi:random/insecure-seed': random.insecureSeed,
    // Not given: wasi:filesystem and wasi:sockets (a component importing them fails to load).
  };
}

/** Compiled core modules, per file, shared by every instance. */
const compiled = new Map();

/** The transpiled component `vendor`: its bindings and its core modules, compiled. */
async function loadGenerated(vendor) {
  if (!/^[a-z0-9_-]+$/.test(vendor)) throw new TypeError(`bad vendor name \`${vendor}\``);
  const dir = new URL(`${vendor}/`, GEN_DIR);
  let files;
  try {
    files = await readdir(dir);
  } catch {
    throw new Error(`no transpiled component for \`${vendor}\` in ${dir.pathname}: run \`npm run build --prefix host/js\``);
  }
  const bindings = await import(new URL('provider.js', dir).href);
  const cores = new Map();
  for (const name of files.filter((f) => f.endsWith('.wasm'))) {
    const url = new URL(name, dir).href;
    if (!compiled.has(url)) compiled.set(url, readFile(new URL(url)).then((bytes) => WebAssembly.compile(bytes)));
    cores.set(name, await compiled.get(url));
  }
  return { bindings, getCoreModule: (name) => cores.get(name) };
}

const toJson = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Loads the transpiled component `vendor` (`nimbus`, `symbee`, or any name under gen/) and
 * makes an instance of it with its own secrets and allow-list.
 *
 * @param {string} vendor
 * @param {object} [options]
 * @param {undefined | Record<string,string> | {get(name: string): string, refresh?(name: string): string}} [options.secrets]
 *   where secrets come from; by default environment variables `ROSTER_SECRET_<NAME>`
 * @param {string[] | ((requested: string[], config: object|string) => string[])} [options.allowedHosts]
 *   hosts allowed besides those the component asks for under its config; or a function
 *   computing the whole list from the component's (e.g. to narrow it)
 * @param {boolean} [options.allowPrivateNetworks] lets requests that name a loopback, private,
 *   link-local or metadata IP through any allowed host, and allowed host names that resolve to
 *   one (the private-network rule, address.js; `configure` checks names when this is off)
 * @param {{connectMs?: number, firstByteMs?: number, betweenBytesMs?: number}} [options.timeouts]
 * @returns {Promise<Provider>}
 */
export async function loadProvider(vendor, { secrets, allowedHosts = [], allowPrivateNetworks = false, timeouts } = {}) {
  const { bindings, getCoreModule } = await loadGenerated(vendor);
  // Every secret handed over and every credential on a request is kept out of errors.
  const state = { allowList: new AllowList(), granted: new AllowList(), allowPrivateNetworks, denied: [], redactor: new Redactor() };
  const remember = (value) => state.redactor.add(value);
  const imports = {
    ...wasiImports(state.redactor),
    'roster:provider/secrets': secretsImport(secrets, { onValue: remember }),
    'wasi:http/outgoing-handler': allowListedHandler(() => state.allowList, {
      granted: () => state.granted,
      allowPrivateNetworks,
      timeouts,
      onDenied: (target, why) => state.denied.push(why ? `${target} (${why})` : target),
      onCredential: remember,
    }),
  };
  // jco's `--instantiation sync` output: with the core modules compiled, an instance is made
  // synchronously, so one that trapped can be replaced in the middle of a call.
  const instantiate = () => bindings.instantiate(getCoreModule, imports).provider;
  return new Provider(vendor, instantiate, state, allowedHosts);
}

/**
 * One provider: a component instance, replaced after a trap. Calls are synchronous: each
 * blocks the thread until the component returns (preview2-shim does the HTTP in a worker
 * thread meanwhile). JSON maps are taken as objects or JSON text, and returned as objects.
 */
export class Provider {
  #instantiate;
  #instance;
  #state;
  #extra;
  #config; // the JSON text of the last successful configure
  #busy = false;
  #replaced = 0;

  constructor(vendor, instantiate, state, extra) {
    this.vendor = vendor;
    this.#instantiate = instantiate;
    this.#instance = instantiate();
    this.#state = state;
    this.#extra = extra;
  }

  /**
   * Runs `fn` on the instance; a provider-error becomes a ProviderError. Any other exception
   * (a trap: a panic, stack exhaustion…) discards the instance, as Roster's host does: the next
   * call gets a new one, configured again with the last config. jco would let the trapped
   * instance be called again, with whatever state the trap left behind.
   */
  #call(fn) {
    if (this.#busy) throw new Error(`provider ${this.vendor} called again from inside one of its own calls (a secrets source?)`);
    this.#busy = true;
    try {
      if (!this.#instance) {
        const fresh = this.#instantiate();
        if (this.#config !== undefined) fresh.configure(this.#config);
        this.#instance = fresh;
      }
      return fn(this.#instance);
    } catch (e) {
      if (e && typeof e === 'object' && 'payload' in e && e.payload?.tag) throw new ProviderError(redactPayload(e.payload, this.#state.redactor));
      this.#instance = undefined;
      this.#replaced++;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  /** The jco bindings of the current instance's `roster:provider/provider` export. */
  get raw() {
    return this.#call((i) => i);
  }

  /** How many instances were discarded after a trap. */
  get discardedInstances() {
    return this.#replaced;
  }

  /** What the provider is (config schema, secrets, resources…); no config, no network. */
  metadata() {
    return this.#call((i) => i.metadata());
  }

  /** The hosts the component says it needs under `config`. */
  requestedHosts(config) {
    const json = toJson(config);
    return this.#call((i) => i.allowedHosts(json));
  }

  /**
   * Configures the provider. The allow-list becomes the hosts the component asks for under
   * this config plus `options.allowedHosts` (or what that function returns); it is empty,
   * denying every request, until the first successful configure. A host name in the list that
   * resolves now to an address the private-network rule refuses fails it with `denied`.
   */
  configure(config) {
    const json = toJson(config);
    const requested = this.requestedHosts(json);
    const entries = typeof this.#extra === 'function' ? this.#extra(requested, config) : [...requested, ...this.#extra];
    // The embedder's own entries (a function's answer is all theirs): the private-network rule
    // lets only those name a link-local or metadata IP.
    const granted = typeof this.#extra === 'function' ? entries : this.#extra;
    let allowList, grantedList;
    try {
      allowList = AllowList.parse(entries);
      grantedList = AllowList.parse(granted);
    } catch (e) {
      throw new ProviderError({ tag: 'invalid-config', val: { field: 'allowed_hosts', message: e.message } });
    }
    // The private-network rule for host names, where this host can apply it: each name in the
    // list, resolved now (the requests themselves resolve inside preview2-shim's worker).
    if (!this.#state.allowPrivateNetworks) {
      const hosts = allowList.entries.map((e) => AllowedHost.parse(e));
      const names = namedHosts(hosts).map((e) => e.host);
      const addresses = resolveNow(names);
      const refused = refusedNames(hosts, false, (host) => addresses[names.indexOf(host)] ?? []);
      if (refused.length > 0) throw new ProviderError({ tag: 'denied', val: refused.join('; ') });
    }
    this.#call((i) => i.configure(json));
    this.#config = json;
    this.#state.allowList = allowList;
    this.#state.granted = grantedList;
  }

  /** The hosts this provider may reach now. */
  get allowedHosts() {
    return this.#state.allowList.entries;
  }

  /** `host:port` of every request denied so far, oldest first (with the reason, for the
   * private-network rule). */
  get denied() {
    return [...this.#state.denied];
  }

  /** Field-level checks; a list of `{ field, message }`, empty when `desired` is fine. */
  validate(typeName, desired) {
    const json = toJson(desired);
    return this.#call((i) => i.validate(typeName, json));
  }

  /** The object's attributes, or null when it does not exist. */
  read(typeName, id) {
    const found = this.#call((i) => i.read(typeName, id));
    return found === undefined ? null : JSON.parse(found);
  }

  /** Creates the object; returns its attributes as the vendor now has them. */
  create(typeName, desired) {
    const json = toJson(desired);
    return JSON.parse(this.#call((i) => i.create(typeName, json)));
  }

  /** Deletes the object. */
  delete(typeName, id) {
    this.#call((i) => i.delete(typeName, id));
  }

  /** Looks something up (a data source). */
  query(dataSource, args = {}) {
    const json = toJson(args);
    return JSON.parse(this.#call((i) => i.query(dataSource, json)));
  }
}
