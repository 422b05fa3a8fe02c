// The golden vectors in tests/vectors/, which the Rust and Python hosts run too: the allow-list
// rule, the private-network rule, the error mapping, and redaction.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkAddress, classify, refusedNames } from '../address.js';
import { AllowedHost, AllowList } from '../allowlist.js';
import { forms, redactWith } from '../redact.js';
import { ProviderError } from '../roster.js';

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
