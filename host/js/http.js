// The component's `wasi:http/outgoing-handler` import: preview2-shim's handler behind the
// provider's allow-list, with the Rust host's timeouts (host/runtime/src/limits.rs).
//
// A request whose scheme://host:port is not allowed, or that names an IP address the
// private-network rule refuses (address.js), fails with the wasi:http error-code
// `HTTP-request-denied` before anything leaves the process; the guest kit
// (guest/kit/src/http.rs) turns that into provider-error `denied` naming the host.

import { isIP } from 'node:net';
import { outgoingHandler, types } from '@bytecodealliance/preview2-shim/http';
import { checkAddress } from './address.js';
import { destinationOf } from './allowlist.js';
import { credentialsIn, isCredentialHeader } from './redact.js';

/** The Rust host's defaults, in milliseconds. */
export const DEFAULT_TIMEOUTS = Object.freeze({ connectMs: 10_000, firstByteMs: 30_000, betweenBytesMs: 30_000 });

const NS_PER_MS = 1_000_000n;

/**
 * A `wasi:http/outgoing-handler` implementation for one component instance.
 *
 * @param {() => import('./allowlist.js').AllowList} allowList read on every request, so the
 *   provider can swap it when it is configured again
 * @param {object} [options]
 * @param {() => import('./allowlist.js').AllowList} [options.granted] the entries the embedder
 *   granted (not only the component asked for): the private-network rule (address.js) lets a
 *   request name a link-local or metadata IP only through one of those
 * @param {boolean} [options.allowPrivateNetworks] opts out of the private-network rule
 * @param {(target: string, why?: string) => void} [options.onDenied] told `host:port` of each denied
 *   request (and, for the private-network rule, why)
 * @param {(value: string) => void} [options.onCredential] told every credential on a request
 *   (Authorization, API-key and token headers), so that it is never printed
 * @param {{connectMs?: number, firstByteMs?: number, betweenBytesMs?: number}} [options.timeouts]
 */
export function allowListedHandler(allowList, { granted = allowList, allowPrivateNetworks = false, onDenied = () => {}, onCredential = () => {}, timeouts = {} } = {}) {
  const limits = { ...DEFAULT_TIMEOUTS, ...timeouts };
  return {
    handle(request, options) {
      for (const [name, value] of request.headers().entries()) {
        if (isCredentialHeader(name)) credentialsIn(new TextDecoder().decode(value)).forEach(onCredential);
      }
      const { scheme, authority, target } = destination(request);
      if (!authority || !allowList().allowsAuthority(scheme, authority)) {
        onDenied(target);
        // A plain object (not an Error): jco lowers it as the `err` of handle's result.
        throw { tag: 'HTTP-request-denied' };
      }
      // A request that names an IP address meets the private-network rule here; one that names
      // a host is resolved inside preview2-shim, out of this host's sight.
      const host = destinationOf(authority)?.host ?? '';
      if (isIP(host)) {
        const why = checkAddress(host, host, granted().allowsAuthority(scheme, authority), allowPrivateNetworks);
        if (why !== undefined) {
          onDenied(target, why);
          throw { tag: 'HTTP-request-denied' };
        }
      }
      return outgoingHandler.handle(request, tightened(options, limits));
    },
  };
}

/** scheme and authority of an outgoing-request (no scheme counts as https, as in Rust). */
function destination(request) {
  const s = request.scheme();
  const scheme = !s ? 'https' : s.tag === 'HTTP' ? 'http' : s.tag === 'HTTPS' ? 'https' : String(s.val).toLowerCase();
  const authority = request.authority() ?? '';
  return { scheme, authority, target: authority || `${scheme}://(no authority)` };
}

/** The guest's request options with each timeout no longer than the host's. */
function tightened(options, limits) {
  const o = options ?? new types.RequestOptions();
  const tighten = (get, set, ms) => {
    const host = BigInt(ms) * NS_PER_MS;
    const guest = get.call(o);
    if (guest === undefined || guest === null || guest > host) set.call(o, host);
  };
  tighten(o.connectTimeout, o.setConnectTimeout, limits.connectMs);
  tighten(o.firstByteTimeout, o.setFirstByteTimeout, limits.firstByteMs);
  tighten(o.betweenBytesTimeout, o.setBetweenBytesTimeout, limits.betweenBytesMs);
  return o;
}
