// Secrets never echo back, as in the Rust host (host/runtime/src/redact.rs): every secret value
// handed to the component and every credential seen on its requests (Authorization, API-key and
// token headers) is replaced by `[redacted]` in the errors this host throws, in the forms it
// travels in (as is, base64, URL-encoded, JSON- and HTML-escaped), and where a quoted text was
// cut inside one. tests/vectors/redact.json holds the cases all three hosts run.

/** What replaces a secret. */
export const REDACTED = '[redacted]';
/** The shortest value (in UTF-8 bytes) that is redacted. */
export const MIN_LEN = 4;
const MIN_PREFIX = 4;

const hex = (b, lower) => `%${b.toString(16).padStart(2, '0')[lower ? 'toLowerCase' : 'toUpperCase']()}`;
const bytes = (s) => [...new TextEncoder().encode(s)];
const isAlnum = (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const formEncode = (s) =>
  bytes(s).map((b) => (isAlnum(b) || '*-._'.includes(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 0x20 ? '+' : hex(b, false))).join('');
const percentEncode = (s, lower) =>
  bytes(s).map((b) => (isAlnum(b) || '-._~'.includes(String.fromCharCode(b)) ? String.fromCharCode(b) : hex(b, lower))).join('');
const isPunct = (c) => /^[!-/:-@[-`{-~]$/.test(c);
const uEscape = (s, upper) =>
  [...s].map((c) => (isPunct(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}` : c)).join('');
const html = (s) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');

/** The encoded forms of `value` (itself included), longest first; none when it is too short. */
export function forms(value) {
  if (new TextEncoder().encode(value).length < MIN_LEN) return [];
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  const b64url = Buffer.from(value, 'utf8').toString('base64url');
  const json = JSON.stringify(value).slice(1, -1);
  const all = [
    value,
    b64,
    b64.replace(/=+$/, ''),
    b64url + '='.repeat((4 - (b64url.length % 4)) % 4),
    b64url,
    formEncode(value),
    percentEncode(value, false),
    percentEncode(value, true),
    html(value),
    json.replaceAll('/', '\\/'),
    json,
    uEscape(value, false),
    uEscape(value, true),
  ];
  return [...new Set(all)].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
}

/** `text` with every form replaced, and a form's prefix (≥ 4) removed where the text is cut. */
export function redactWith(text, allForms) {
  let out = String(text);
  for (const f of allForms) out = out.split(f).join(REDACTED);
  const cuts = [];
  for (let i = out.indexOf('…'); i >= 0; i = out.indexOf('…', i + 1)) cuts.push(i);
  cuts.push(out.length);
  for (const cut of cuts.reverse()) {
    const head = out.slice(0, cut);
    let longest = 0;
    for (const f of allForms) {
      for (let k = f.length - 1; k >= MIN_PREFIX && k > longest; k--) {
        if (head.endsWith(f.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    if (longest) out = out.slice(0, cut - longest) + REDACTED + out.slice(cut);
  }
  return out;
}

/** Whether a request header's value is a credential. */
export function isCredentialHeader(name) {
  const n = name.toLowerCase();
  return (
    ['authorization', 'proxy-authorization', 'cookie', 'x-amz-security-token'].includes(n) ||
    ['api-key', 'apikey', 'api_key', 'token', 'secret', 'password', 'credential'].some((w) => n.includes(w))
  );
}

/** The credentials in a header value: it, the part after `Scheme `, and Basic's decoded parts. */
export function credentialsIn(value) {
  const out = [value];
  const m = /^\s*(\S+) (.*)$/s.exec(value);
  if (m) {
    const rest = m[2].trim();
    out.push(rest);
    if (m[1].toLowerCase() === 'basic') {
      const pair = Buffer.from(rest, 'base64').toString('utf8');
      const colon = pair.indexOf(':');
      if (colon >= 0) {
        const password = pair.slice(colon + 1);
        out.push(password);
        try {
          out.push(decodeURIComponent(password.replaceAll('+', ' ')));
        } catch {
          // not URL-encoded
        }
      }
      out.push(pair);
    }
  }
  return out;
}

/** The values one provider must never print. */
export class Redactor {
  #forms = [];

  /** Remembers `value` and its forms. */
  add(value) {
    const fresh = forms(String(value)).filter((f) => !this.#forms.includes(f));
    if (fresh.length === 0) return;
    this.#forms = [...this.#forms, ...fresh].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** `text` with every remembered value redacted. */
  redact(text) {
    return redactWith(text, this.#forms);
  }
}
