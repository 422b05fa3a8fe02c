// Type declarations for roster-provider: Roster's provider components (WASI 0.2, the
// roster:provider world) in Node, transpiled by jco, with Roster's secrets and allow-list.

/** The WIT `provider-error` cases. */
export type ProviderErrorTag =
  | 'invalid-config'
  | 'invalid-input'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'already-exists'
  | 'rate-limited'
  | 'unavailable'
  | 'denied'
  | 'vendor';

/** A provider-error from the component, as a JavaScript Error (secrets redacted). */
export class ProviderError extends Error {
  constructor(payload: { tag: ProviderErrorTag; val: unknown });
  readonly tag: ProviderErrorTag;
  /** The variant's payload as jco gives it. */
  readonly payload: unknown;
  /** The config key or attribute, for `invalid-config` and `invalid-input`. */
  readonly field?: string;
  /** How long the vendor asked to wait, for `rate-limited`. */
  readonly retryAfterMs?: number;
  /** The HTTP status, for `vendor` (0 for a 200 carrying an error). */
  readonly status?: number;
}

/** A source of secrets: answers synchronously; throws a SecretError (or returns undefined) for a missing one. */
export interface SecretSource {
  get(name: string): string | undefined;
  refresh?(name: string): string | undefined;
}

/** A `secret-error` a source may throw. */
export class SecretError extends Error {
  constructor(kind: 'not-found' | 'denied' | 'unavailable', message: string);
  readonly kind: 'not-found' | 'denied' | 'unavailable';
}

/** The environment variable that holds secret `name`: `client_secret` → `ROSTER_SECRET_CLIENT_SECRET`. */
export function envVarFor(name: string): string;
/** Secrets from environment variables (`ROSTER_SECRET_<NAME>`), read again on every call. */
export function envSecrets(env?: Record<string, string | undefined>): Required<SecretSource>;
/** Fixed values: `{ api_key: '…' }`. */
export function staticSecrets(values: Record<string, string>): Required<SecretSource>;

/** HTTP timeouts of a provider's requests, in milliseconds. */
export interface Timeouts {
  connectMs?: number;
  firstByteMs?: number;
  betweenBytesMs?: number;
}
export const DEFAULT_TIMEOUTS: Readonly<Required<Timeouts>>;

/** One allowed destination: `[scheme://]host[:port]`, with an optional leading `*.`. */
export class AllowedHost {
  static parse(entry: string): AllowedHost;
  readonly scheme: 'http' | 'https' | undefined;
  readonly host: string;
  readonly wildcard: boolean;
  readonly port: number | undefined;
  allows(scheme: string, host: string, port: number): boolean;
  toString(): string;
}

/** The hosts a provider may reach. */
export class AllowList {
  static parse(entries: string[]): AllowList;
  extend(entries: string[]): void;
  allows(scheme: string, host: string, port: number): boolean;
  allowsAuthority(scheme: string, authority: string): boolean;
  allowsUrl(url: string): boolean;
  readonly entries: string[];
  toString(): string;
}

/** What every redacted secret is replaced by. */
export const REDACTED: '[redacted]';

/** Where the transpiled components live: `gen/<vendor>/`. */
export const GEN_DIR: URL;

/** JSON maps are taken as objects or JSON text. */
export type Attributes = Record<string, unknown>;

export interface LoadOptions {
  /** Where secrets come from; by default environment variables `ROSTER_SECRET_<NAME>`. */
  secrets?: SecretSource | Record<string, string>;
  /** Hosts allowed besides those the component asks for, or a function computing the whole list. */
  allowedHosts?: string[] | ((requested: string[], config: Attributes | string) => string[]);
  /** Lets requests that name a loopback, private, link-local or metadata IP through any allowed
   * host, and allowed host names that resolve to one (the private-network rule: it applies to
   * requests that name an IP address, and at `configure` to what each allowed name resolves to). */
  allowPrivateNetworks?: boolean;
  timeouts?: Timeouts;
}

/** What a component says about itself (snake_case keys as jco gives them: camelCase). */
export interface ProviderMetadata {
  name: string;
  version: string;
  description: string;
  configSchema: unknown[];
  secrets: unknown[];
  resources: unknown[];
  dataSources: unknown[];
  rateLimit?: { operations: number; perSeconds: number };
}

/** One provider: a component instance, replaced after a trap. Calls are synchronous. */
export class Provider {
  readonly vendor: string;
  /** What the provider is; no config, no network. */
  metadata(): ProviderMetadata;
  /** The hosts the component says it needs under `config`. */
  requestedHosts(config: Attributes | string): string[];
  /** Configures the provider and sets its allow-list; a `ProviderError` `denied` when an allowed
   * host name resolves now to an address the private-network rule refuses. */
  configure(config: Attributes | string): void;
  /** The hosts this provider may reach now. */
  readonly allowedHosts: string[];
  /** `host:port` of every request denied so far (with the reason, for the private-network rule). */
  readonly denied: string[];
  /** How many instances were discarded after a trap. */
  readonly discardedInstances: number;
  /** Field-level checks; empty when `desired` is fine. */
  validate(typeName: string, desired: Attributes | string): { field: string; message: string }[];
  /** The object's attributes, or null when it does not exist. */
  read(typeName: string, id: string): Attributes | null;
  /** Creates the object; returns its attributes as the vendor now has them. */
  create(typeName: string, desired: Attributes | string): Attributes;
  /** Deletes the object. */
  delete(typeName: string, id: string): void;
  /** Looks something up (a data source). */
  query(dataSource: string, args?: Attributes | string): Attributes;
}

/** Loads the transpiled component `vendor` (`nimbus`, `symbee`) with its own secrets and allow-list. */
export function loadProvider(vendor: string, options?: LoadOptions): Promise<Provider>;
