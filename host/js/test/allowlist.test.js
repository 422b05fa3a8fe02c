// The allow-list rule, case by case as host/runtime/src/http.rs tests it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AllowedHost, AllowList, destinationOf } from '../allowlist.js';

const allows = (entries, url) => AllowList.parse(entries).allowsUrl(url);

test('exact hosts and default ports', () => {
  assert.ok(allows(['login.microsoftonline.com'], 'https://login.microsoftonline.com/t/oauth2'));
  assert.ok(allows(['LOGIN.microsoftonline.com'], 'https://login.MicrosoftOnline.com/'));
  assert.ok(!allows(['login.microsoftonline.com'], 'https://login.microsoftonline.com:8443/'));
  assert.ok(!allows(['login.microsoftonline.com'], 'https://evil.com/login.microsoftonline.com'));
  assert.ok(!allows(['login.microsoftonline.com'], 'https://login.microsoftonline.com.evil.com/'));
  assert.ok(allows(['symbeeconnect.com:9443'], 'https://symbeeconnect.com:9443/symbee-admin'));
  assert.ok(!allows(['symbeeconnect.com:9443'], 'https://symbeeconnect.com/'));
});

test('schemes', () => {
  assert.ok(allows(['http://127.0.0.1:8080'], 'http://127.0.0.1:8080/x'));
  assert.ok(!allows(['http://127.0.0.1:8080'], 'https://127.0.0.1:8080/x'));
  assert.ok(!allows(['https://a.example'], 'http://a.example/'));
  assert.ok(allows(['a.example'], 'http://a.example/'));
  assert.ok(allows(['[::1]:9000'], 'http://[::1]:9000/'));
});

test('wildcards', () => {
  assert.ok(allows(['*.luware.cloud'], 'https://admin.ch-01.luware.cloud/api'));
  assert.ok(!allows(['*.luware.cloud'], 'https://luware.cloud/'));
  assert.ok(!allows(['*.luware.cloud'], 'https://evilluware.cloud/'));
});

test('bad entries are named', () => {
  for (const bad of ['', 'ftp://x.com', 'x.com/path', 'x.com:0', 'x.com:99999', 'a.*.com', '*', 'user@x.com', 'x y.com']) {
    assert.throws(() => AllowedHost.parse(bad), (e) => e.message.includes(`\`${bad.trim()}\``), bad);
  }
});

test('displays as parsed', () => {
  for (const e of ['https://*.luware.cloud', 'symbeeconnect.com:9443', 'http://127.0.0.1:80']) {
    assert.equal(AllowedHost.parse(e).toString(), e);
  }
});

test('an empty list allows nothing', () => {
  assert.ok(!new AllowList().allows('https', 'example.com', 443));
});

test("a request's destination: user info is not part of it, IPv6 loses its brackets", () => {
  assert.deepEqual(destinationOf('169.254.169.254'), { host: '169.254.169.254', port: undefined });
  assert.deepEqual(destinationOf('user:pw@169.254.169.254:80'), { host: '169.254.169.254', port: 80 });
  assert.deepEqual(destinationOf('u@[fd00:ec2::254]:8080'), { host: 'fd00:ec2::254', port: 8080 });
  assert.deepEqual(destinationOf('[::1]'), { host: '::1', port: undefined });
  assert.equal(destinationOf('example.com:99999'), undefined);
});
