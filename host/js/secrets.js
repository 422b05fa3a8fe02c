// The component's `roster:provider/secrets` import, supplied in JavaScript.
//
// The WIT functions are synchronous (`get: func(name) -> result<string, secret-error>`), so a
// secret source must answer synchronously: resolve anything asynchronous (a vault, AWS Secrets
// Manager…) before calling the provider, and hand the values in.

/** A `secret-error` a source may throw: `kind` is `not-found`, `denied` or `unavailable`. */
export class SecretError extends Error {
  constructor(kind, message) {
    super(message);
    if (!['not-found', 'denied', 'unavailable'].includes(kind)) throw new TypeError(`unknown secret-error kind \`${kind}\``);
    this.name = 'SecretError';
    this.kind = kind;
  }
}

/** The environment variable that holds secret `name`: `client_secret` → `ROSTER_SECRET_CLIENT_SECRET`. */
export function envVarFor(name) {
  return `ROSTER_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** Secrets from environment variables (`ROSTER_SECRET_<NAME>`), read again on every call. */
export function envSecrets(env = process.env) {
  const read = (name) => {
    const value = env[envVarFor(name)];
    if (value === undefined || value === '') throw new SecretError('not-found', `set ${envVarFor(name)}`);
    return value;
  };
  return { get: read, refresh: read };
}

/** Fixed values: `{ api_key: '…' }`. */
export function staticSecrets(values) {
  const read = (name) => {
    if (!Object.hasOwn(values, name)) throw new SecretError('not-found', `no value given for secret \`${name}\``);
    return String(values[name]);
  };
  return { get: read, refresh: read };
}

/**
 * The `roster:provider/secrets` import for `source`: undefined (environment variables), an
 * object of fixed values, or `{ get(name), refresh?(name) }` returning strings synchronously
 * (`refresh` defaults to `get`; return undefined or throw a SecretError for a missing secret).
 * `onValue` is told every value handed to the component.
 */
export function secretsImport(source, { onValue = () => {} } = {}) {
  const s =
    source === undefined ? envSecrets() : typeof source.get === 'function' ? source : staticSecrets(source);
  const call = (fn, name) => {
    let value;
    try {
      value = fn.call(s, name);
    } catch (e) {
      // jco lowers a thrown plain object `{ tag, val }` as the `err` of the result; a thrown
      // Error would escape into the guest call instead, so every failure is turned into one.
      if (e instanceof SecretError) throw { tag: e.kind, val: e.message };
      throw { tag: 'unavailable', val: `secret source failed: ${e?.message ?? e}` };
    }
    if (value === undefined || value === null) throw { tag: 'not-found', val: `no secret \`${name}\`` };
    if (typeof value?.then === 'function') {
      value.catch?.(() => {});
      throw { tag: 'unavailable', val: `the source of secret \`${name}\` returned a Promise; secrets.get is synchronous, resolve it before the call` };
    }
    onValue(String(value)); // never printed from now on (redact.js)
    return String(value);
  };
  return {
    get: (name) => call(s.get, name),
    refresh: (name) => call(s.refresh ?? s.get, name),
  };
}
