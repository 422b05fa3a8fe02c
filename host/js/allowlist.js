// The outgoing-HTTP allow-list, with the same rule as the Rust host (host/runtime/src/http.rs):
// an entry is `[scheme://]host[:port]`, where `host` may start with `*.` to allow every
// subdomain. Without a port, an entry allows its scheme's default port (443 for https, 80 for
// http; either, matching the request's scheme, when no scheme is given). Matching ignores case.
// An IPv6 address goes in brackets and is compared in one form (the URL standard's).
//
// tests/vectors/allowlist.json holds the cases; the Rust, Node and Python hosts all run them.

const DEFAULT_PORTS = { https: 443, http: 80 };

/** `s` (no brackets) as the URL standard writes an IPv6 address, or undefined if it is none. */
function canonicalIpv6(s) {
  try {
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** A host as compared: lower case; a bracketed IPv6 address in the URL standard's form. */
export function canonicalHost(host) {
  const lower = host.toLowerCase();
  const v6 = lower.startsWith('[') && lower.endsWith(']') ? canonicalIpv6(lower.slice(1, -1)) : undefined;
  return v6 === undefined ? lower : `[${v6}]`;
}

/** One allowed destination. */
export class AllowedHost {
  constructor({ scheme, host, wildcard, port }) {
    this.scheme = scheme; // 'http' | 'https' | undefined
    this.host = host; // lower case, without a leading `*.`
    this.wildcard = wildcard;
    this.port = port; // number | undefined
  }

  /** Parses `[scheme://]host[:port]`; throws an Error naming the entry when it is bad. */
  static parse(entry) {
    const text = String(entry).trim();
    const bad = (why) => new Error(`allowed host \`${text}\`: ${why}`);
    let scheme;
    let rest = text;
    const sep = text.indexOf('://');
    if (sep >= 0) {
      scheme = text.slice(0, sep).toLowerCase();
      if (scheme !== 'http' && scheme !== 'https') throw bad('scheme must be http or https');
      rest = text.slice(sep + 3);
    }
    if (rest.endsWith('/')) rest = rest.slice(0, -1);
    if (/[/?@]/.test(rest)) throw bad('give only [scheme://]host[:port], no path or user');
    const split = splitHostPort(rest);
    if (!split) throw bad('the port must be a number from 1 to 65535');
    let { host } = split;
    const wildcard = host.startsWith('*.');
    if (wildcard) host = host.slice(2);
    if (host === '' || host.includes('*')) throw bad('a wildcard may only be a leading `*.`');
    if (!/^[A-Za-z0-9\-.[\]:_]+$/.test(host)) throw bad(`\`${host}\` is not a host name or IP address`);
    const bracketed = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : undefined;
    const v6 = bracketed === undefined ? undefined : canonicalIpv6(bracketed);
    if ((/[:[\]]/.test(host) || bracketed !== undefined) && (v6 === undefined || wildcard)) {
      throw bad('an IPv6 address goes in brackets, e.g. `[::1]:8080`');
    }
    return new AllowedHost({ scheme, host: canonicalHost(host), wildcard, port: split.port });
  }

  /** Whether a request to `scheme://host:port` is allowed by this entry. */
  allows(scheme, host, port) {
    host = canonicalHost(host);
    const hostOk = this.wildcard
      ? host.endsWith(`.${this.host}`)
      : host === this.host;
    const schemeOk = this.scheme === undefined || this.scheme === scheme;
    const portOk = this.port !== undefined ? this.port === port : DEFAULT_PORTS[this.scheme ?? scheme] === port;
    return hostOk && schemeOk && portOk;
  }

  toString() {
    return `${this.scheme ? `${this.scheme}://` : ''}${this.wildcard ? '*.' : ''}${this.host}${this.port ? `:${this.port}` : ''}`;
  }
}

/** Splits `host[:port]` (IPv6 literals in brackets); `undefined` for a bad port. */
export function splitHostPort(s) {
  const colon = s.startsWith('[') ? (s.indexOf(']:') >= 0 ? s.indexOf(']:') + 1 : -1) : s.lastIndexOf(':');
  if (colon < 0) return { host: s, port: undefined };
  const digits = s.slice(colon + 1);
  const port = Number(digits);
  if (!/^[0-9]+$/.test(digits) || port < 1 || port > 65535) return undefined;
  return { host: s.slice(0, colon), port };
}

/**
 * The destination of a request's authority (`[user@]host[:port]`, as wasi:http gives it): the
 * host (IPv6 without brackets) and port, or `undefined` for a bad port. User info is not part
 * of the destination.
 */
export function destinationOf(authority) {
  const split = splitHostPort(authority.slice(authority.lastIndexOf('@') + 1));
  if (split === undefined) return undefined;
  const { host, port } = split;
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port };
}

/** A provider's allow-list. */
export class AllowList {
  #entries = [];

  /** Parses every entry; the first bad one throws. */
  static parse(entries) {
    const list = new AllowList();
    list.extend(entries);
    return list;
  }

  /** Adds entries (duplicates are skipped). */
  extend(entries) {
    for (const e of entries) {
      const parsed = e instanceof AllowedHost ? e : AllowedHost.parse(e);
      if (!this.#entries.some((x) => x.toString() === parsed.toString())) this.#entries.push(parsed);
    }
    return this;
  }

  /** Whether `scheme://host:port` may be requested (`port` undefined: the scheme's default). */
  allows(scheme, host, port) {
    scheme = (scheme ?? 'https').toLowerCase();
    port ??= DEFAULT_PORTS[scheme];
    if (!host || port === undefined) return false;
    return this.#entries.some((e) => e.allows(scheme, host, port));
  }

  /**
   * Whether a request with this scheme and authority (`host[:port]`, as wasi:http gives them;
   * user info before `@` is not part of the destination) may be sent.
   */
  allowsAuthority(scheme, authority) {
    const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
    const split = splitHostPort(hostPort);
    return split !== undefined && this.allows(scheme, split.host, split.port);
  }

  /** Whether a URL (string or URL) may be requested. */
  allowsUrl(url) {
    const u = new URL(url);
    const scheme = u.protocol.replace(/:$/, '');
    return this.allows(scheme, u.hostname, u.port === '' ? undefined : Number(u.port));
  }

  /** The entries, as text. */
  get entries() {
    return this.#entries.map(String);
  }

  toString() {
    return this.entries.join(', ');
  }
}
