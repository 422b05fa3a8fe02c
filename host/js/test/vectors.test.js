// The golden vectors in tests/vectors/, which the Rust and Python hosts run too: the allow-list
// rule, the private-network rule, the error mapping, redaction, and the host policy (timeouts,
// limits, credential headers, what a failed call does to its instance).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkAddress, classify, refusedNames } from '../address.js';
import { AllowedHost, AllowList } from '../allowlist.js';
import { DEFAULT_TIMEOUTS } from '../http.js';
import { MIN_LEN, REDACTED, Redactor, credentialsIn, forms, isCredentialHeader, redactWith } from '../redact.js';
import { AllowList as ExportedAllowList, DEFAULT_TIMEOUTS as EXPORTED_TIMEOUTS, Provider, ProviderError } from '../roster.js';

const vectors = (name) => JSON.parse(readFileSync(new URL(`../../../tests/vectors/${name}`, import.meta.url), 'utf8'));

test('allow-list entries parse as the vectors say', () => {
  for (const c of vectors('allowlist.json').entries) {
    if (c.error !== undefined) {
      assert.throws(() => AllowedHost.parse(c.entry), (e) => e.message === c.error, JSON.stringify(c));
    } else {
      assert.equal(AllowedHost.parse(c.entry).toString(), c.display, JSON.stringify(c));
    }
  }
});

test('requests are allowed as the vectors say', () => {
  for (const c of vectors('allowlist.json').requests) {
    assert.equal(AllowList.parse(c.hosts).allowsAuthority(c.scheme, c.authority), c.allowed, JSON.stringify(c));
  }
});

test('addresses are classified as the vectors say', () => {
  const cases = vectors('addresses.json').classes;
  assert.ok(cases.length > 30);
  for (const c of cases) assert.equal(classify(c.ip), c.class, JSON.stringify(c));
});

test('the private-network rule decides as the vectors say', () => {
  const cases = vectors('addresses.json').decisions;
  assert.ok(cases.length > 20);
  for (const c of cases) {
    const why = checkAddress(c.host, c.ip, c.user_granted, c.allow_private_networks);
    assert.equal(why === undefined, c.allowed, `${JSON.stringify(c)}: ${why}`);
  }
});

test('host names that resolve to private networks are refused at configure as the vectors say', () => {
  const c = vectors('addresses.json').configure_names;
  const asked = [];
  const resolve = (host, port) => {
    asked.push([host, port]);
    return c.resolve[host] ?? [];
  };
  const entries = c.entries.map((e) => AllowedHost.parse(e));
  const refused = refusedNames(entries, false, resolve);
  assert.equal(refused.length, c.refused.length, refused.join('\n'));
  refused.forEach((why, i) => assert.ok(why.startsWith(c.refused[i]), why));
  assert.deepEqual(asked, c.asked, 'IP addresses and wildcards are not resolved; ports default by scheme');
  assert.deepEqual(refusedNames(entries, true, resolve), c.refused_with_allow_private_networks);
});

/** A WIT value in jco's shape: records with camelCase keys, `none` as undefined. */
function jco(val) {
  if (typeof val !== 'object' || val === null) return val;
  return Object.fromEntries(
    Object.entries(val)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), v]),
  );
}

test('provider errors map as the vectors say', () => {
  for (const c of vectors('errors.json').cases) {
    const e = new ProviderError({ tag: c.error.tag, val: jco(c.error.val) });
    const what = JSON.stringify(c);
    assert.equal(e.tag, c.kind, what);
    const text = typeof e.payload === 'string' ? e.payload : e.payload.message;
    assert.equal(text, c.message, what);
    if ('field' in c) assert.equal(e.field, c.field, what);
    if ('retry_after_ms' in c) assert.equal(e.retryAfterMs, c.retry_after_ms ?? undefined, what);
    if ('status' in c) assert.equal(e.status, c.status, what);
  }
});

test('secrets are redacted as the vectors say', () => {
  for (const c of vectors('redact.json').cases) {
    assert.equal(redactWith(c.text, forms(c.secret)), c.redacted, JSON.stringify(c));
  }
});

/** The sections of policy.json that say `host` does not enforce them. */
const notEnforcedBy = (policy, host) =>
  Object.entries(policy)
    .filter(([, section]) => section?.not_enforced?.[host] !== undefined)
    .map(([name]) => name)
    .sort();

test('the HTTP timeouts and the limits are the policy vector', () => {
  const v = vectors('policy.json');
  assert.deepEqual(notEnforcedBy(v, 'node'), ['call_deadline_ms', 'memory_bytes', 'response_body_bytes'], 'what this host leaves out');
  assert.equal(v.response_body_bytes.limit, null);
  const t = v.http_timeouts_ms;
  assert.deepEqual({ ...DEFAULT_TIMEOUTS }, { connectMs: t.connect, firstByteMs: t.first_byte, betweenBytesMs: t.between_bytes });
  assert.equal(EXPORTED_TIMEOUTS, DEFAULT_TIMEOUTS, 'roster.js exports the same object');
});

test('credential headers and the redaction marker are the policy vector', () => {
  const v = vectors('policy.json');
  const h = v.credential_headers;
  assert.ok(h.cases.length > 20);
  for (const c of h.cases) assert.equal(isCredentialHeader(c.name), c.credential, JSON.stringify(c));
  // `${base64:TEXT}`: TEXT encoded here, so the vector holds no encoded credential.
  const encoded = (s) => s.replace(/\$\{base64:([^}]*)\}/g, (_, text) => Buffer.from(text).toString('base64'));
  for (const c of h.values) assert.deepEqual(credentialsIn(encoded(c.value)), c.credentials.map(encoded), JSON.stringify(c));
  assert.equal(REDACTED, v.redaction.marker);
  assert.equal(MIN_LEN, v.redaction.min_len_bytes);
});

/**
 * A Provider over fake instances (no component): each records the calls it gets, and `fail`
 * says how the next `read` ends.
 */
function fakeProvider() {
  const made = [];
  let fail;
  const instantiate = () => {
    const calls = [];
    const call = (name) => (...args) => {
      calls.push(name === 'configure' ? [name, args[0]] : [name]);
      if (name === 'read' && fail) {
        const f = fail;
        fail = undefined;
        throw f;
      }
      return name === 'allowedHosts' ? [] : name === 'validate' ? [] : '{}';
    };
    const instance = Object.fromEntries(
      ['metadata', 'allowedHosts', 'configure', 'validate', 'read', 'create', 'delete', 'query'].map((n) => [n, call(n)]),
    );
    made.push(calls);
    return instance;
  };
  const state = { allowList: new ExportedAllowList(), granted: new ExportedAllowList(), allowPrivateNetworks: true, denied: [], redactor: new Redactor() };
  const provider = new Provider('fake', instantiate, state, []);
  return { provider, made, failNextRead: (e) => (fail = e) };
}

/** How each outcome of policy.json's failed_calls ends a call in this host. */
const outcomes = {
  'provider-error': () => Object.assign(new Error('not-found'), { payload: { tag: 'not-found', val: 'gone' } }),
  trap: () => new WebAssembly.RuntimeError('unreachable'),
};

test('a failed call discards its instance as the policy vector says, and the next is configured first', () => {
  const v = vectors('policy.json').failed_calls;
  const enforced = v.outcomes.filter((o) => o.not_enforced?.node === undefined);
  assert.deepEqual(
    enforced.map((o) => o.outcome),
    Object.keys(outcomes),
  );
  const methods = { validate: (p) => p.validate('t', {}), read: (p) => p.read('t', 'id'), create: (p) => p.create('t', {}), delete: (p) => p.delete('t', 'id'), query: (p) => p.query('q', {}) };
  assert.deepEqual(v.configured_before, Object.keys(methods));
  for (const o of enforced) {
    for (const name of v.configured_before) {
      const { provider, made, failNextRead } = fakeProvider();
      provider.configure({ cluster: 'ch-01' });
      failNextRead(outcomes[o.outcome]());
      assert.throws(() => provider.read('t', 'id'), o.outcome === 'trap' ? WebAssembly.RuntimeError : ProviderError);
      assert.equal(provider.discardedInstances, o.discards_instance ? 1 : 0, o.outcome);
      methods[name](provider);
      const what = `${o.outcome}, then ${name}`;
      if (o.discards_instance) {
        assert.equal(made.length, 2, what);
        assert.deepEqual(made[1], [['configure', '{"cluster":"ch-01"}'], [name]], `${what}: a fresh instance, configured with the last config first`);
      } else {
        assert.equal(made.length, 1, `${what}: the instance is kept`);
      }
    }
  }
});
