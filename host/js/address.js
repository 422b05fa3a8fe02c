// The private-network rule, as the Rust host has it (host/runtime/src/address.rs): which
// addresses a request may connect to. Public: always. Loopback: when the request names the IP
// itself, or `localhost`. Private (RFC 1918, 100.64/10, fc00::/7, fec0::/10): when it names the
// IP. Link-local, cloud metadata, unspecified, multicast/reserved: when it names the IP *and*
// the allow-list entry that matched was granted by the embedder (not only asked for by the
// component). Any of them with `allowPrivateNetworks`. IPv4-mapped and NAT64 addresses are
// classified by the IPv4 address they carry.
//
// This host applies it to requests that name an IP address (checked before anything leaves the
// process). A request that names a host is resolved by preview2-shim inside its worker, where
// this host cannot see the address; so, as the Python host does, it resolves every host name of
// the allow-list when the provider is configured and refuses the configure when one resolves to
// an address the rule refuses (`refusedNames`): a check at that moment, not of each connection
// (see README.md).
//
// tests/vectors/addresses.json holds the cases; the Rust, Node and Python hosts all run them.

import { isIP } from 'node:net';

const METADATA_V4 = ['169.254.169.254', '169.254.170.2', '169.254.170.23', '100.100.100.200'];

const octets = (s) => s.split('.').map(Number);

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail allowed). */
function segments(s) {
  const colon = s.lastIndexOf(':');
  if (s.slice(colon + 1).includes('.')) {
    const [a, b, c, d] = octets(s.slice(colon + 1));
    s = `${s.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (p) => (p ? p.split(':').map((h) => parseInt(h, 16)) : []);
  const [head, tail] = s.split('::');
  if (tail === undefined) return groups(head);
  const [h, t] = [groups(head), groups(tail)];
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

function classifyV4(ip) {
  const [a, b] = ip;
  if (METADATA_V4.includes(ip.join('.'))) return 'cloud_metadata';
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128)) return 'private';
  if (a === 169 && b === 254) return 'link_local';
  if (a >= 224) return 'reserved';
  return 'public';
}

/**
 * The class of an IP address (`public`, `loopback`, `private`, `link_local`, `cloud_metadata`,
 * `unspecified`, `reserved`), as tests/vectors/addresses.json names them.
 * @param {string} ip an IPv4 or IPv6 address, without brackets
 */
export function classify(ip) {
  if (isIP(ip) === 4) return classifyV4(octets(ip));
  const s = segments(ip);
  const starts = (prefix) => prefix.every((g, i) => s[i] === g);
  const embedded = [s[6] >> 8, s[6] & 255, s[7] >> 8, s[7] & 255];
  if (starts([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254])) return 'cloud_metadata';
  if (starts([0, 0, 0, 0, 0, 0, 0, 0])) return 'unspecified';
  if (starts([0, 0, 0, 0, 0, 0, 0, 1])) return 'loopback';
  if (starts([0, 0, 0, 0, 0, 0xffff]) || starts([0x64, 0xff9b, 0, 0, 0, 0])) return classifyV4(embedded);
  if (starts([0, 0, 0, 0, 0, 0])) return 'reserved';
  if ((s[0] & 0xfe00) === 0xfc00 || (s[0] & 0xffc0) === 0xfec0) return 'private';
  if ((s[0] & 0xffc0) === 0xfe80) return 'link_local';
  if ((s[0] & 0xff00) === 0xff00) return 'reserved';
  return 'public';
}

/** Whether two IP address texts are one address (of one family). */
function sameAddress(a, b) {
  const family = isIP(a);
  if (family === 0 || family !== isIP(b)) return false;
  return family === 4 ? octets(a).join('.') === octets(b).join('.') : segments(a).join(':') === segments(b).join(':');
}

/**
 * Whether a request that named `host` may connect to `ip`; `undefined` when it may, else why not.
 * @param {string} host as the request named it (IPv6 brackets allowed; case ignored)
 * @param {string} ip the address
 * @param {boolean} userGranted the allow-list entry that matched was the embedder's
 * @param {boolean} allowPrivateNetworks the provider is opted in to private networks
 * @returns {string | undefined}
 */
export function checkAddress(host, ip, userGranted, allowPrivateNetworks) {
  host = host.replace(/^\[/, '').replace(/\]$/, '').toLowerCase();
  const cls = classify(ip);
  const literal = sameAddress(host, ip);
  const allowed =
    allowPrivateNetworks ||
    cls === 'public' ||
    (cls === 'loopback' && (literal || host === 'localhost')) ||
    (cls === 'private' && literal) ||
    (literal && userGranted && cls !== 'loopback' && cls !== 'private');
  if (allowed) return undefined;
  const what = cls.replace('_', '-');
  const named = literal ? `${ip} is a ${what} address` : `${host} resolves to ${ip}, a ${what} address`;
  const grant = cls === 'loopback' || cls === 'private' ? 'name the IP address itself' : 'list the IP address in allowedHosts yourself (a component cannot grant it to itself)';
  return `${named}; private networks are refused unless you ${grant}, or pass allowPrivateNetworks: true`;
}

/**
 * Why each host name among `entries` (`AllowedHost`s) may not be reached, as the configure of
 * the Node and Python hosts checks them; empty when all may. `resolve(host, port)` gives the
 * addresses the name has now (none when it does not resolve: nothing to check). IP addresses
 * and `*.` entries are not resolved: an IP in the list meets the rule on each request, and a
 * wildcard names no one host. The cases: `configure_names` in tests/vectors/addresses.json.
 * @param {import('./allowlist.js').AllowedHost[]} entries
 * @param {boolean} allowPrivateNetworks
 * @param {(host: string, port: number) => string[]} resolve
 * @returns {string[]}
 */
export function refusedNames(entries, allowPrivateNetworks, resolve) {
  const out = [];
  for (const e of namedHosts(entries)) {
    const port = e.port ?? (e.scheme === 'http' ? 80 : 443);
    for (const ip of resolve(e.host, port)) {
      const why = checkAddress(e.host, ip, true, allowPrivateNetworks);
      if (why !== undefined) {
        out.push(why);
        break;
      }
    }
  }
  return out;
}

/**
 * The entries that name a host to resolve: not an IP address, not a `*.` wildcard.
 * @param {import('./allowlist.js').AllowedHost[]} entries
 */
export function namedHosts(entries) {
  return entries.filter((e) => !e.wildcard && !e.host.startsWith('[') && !isIP(e.host));
}
