import type { ServiceSpec } from '../core/model.js';

/** The result of `loadConfig`: validated once at start, deep-frozen. */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type TokenRole = 'admin' | 'scheduler';

export interface TokenSpec {
  readonly token: string;
  readonly role: TokenRole;
  readonly name: string;
  /** Services a scheduler token may use; `*` for all (always `*` for admin tokens). */
  readonly services: readonly string[] | '*';
}

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Absolute. */
  readonly dataDir: string;
  readonly shutdownTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly inProcessAgent: boolean;
  /** Default: os.hostname(). */
  readonly nodeId: string;
}

export interface SqliteStoreConfig {
  readonly type: 'sqlite';
  /** Absolute; default `<dataDir>/polly.db`. */
  readonly path: string;
}

export interface EtcdStoreConfig {
  readonly type: 'etcd';
  /** Client URLs (`http://` or `https://`). */
  readonly endpoints: readonly string[];
  readonly prefix: string;
  /** Absolute paths of PEM files. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of one etcd request. */
  readonly timeoutMs: number;
  /** TTL of the leader lease: how long a dead leader keeps the background loops. */
  readonly leaseTtlMs: number;
  readonly maxTxnOps: number;
}

export type StoreConfig = SqliteStoreConfig | EtcdStoreConfig;

export interface PlacementConfig {
  /** Filter names in the order they run. */
  readonly filters: readonly string[];
  /** Scorer name → weight (0-100). */
  readonly scorers: Readonly<Record<string, number>>;
  readonly minFeasiblePools: number;
  readonly feasiblePercent: number;
}

export interface PollyConfig {
  /** The file used (absolute path), or 'defaults'. */
  readonly source: string;
  readonly server: ServerConfig;
  readonly store: StoreConfig;
  readonly log: { readonly level: LogLevel };
  readonly auth: { readonly tokens: readonly TokenSpec[] };
  readonly placement: PlacementConfig;
  readonly reconcile: { readonly intervalMs: number; readonly idempotencyTtlMs: number };
  /** Kept for the libStorage front door (later). */
  readonly libstorage: { readonly host?: string; readonly raw: Readonly<Record<string, unknown>> };
  readonly services: readonly ServiceSpec[];
  /** Things accepted but ignored or changed (mostly from the 2016 layout), as `path: message`. */
  readonly warnings: readonly string[];
}
