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

export interface StoreConfig {
  readonly type: 'sqlite';
  /** Absolute; default `<dataDir>/polly.db`. */
  readonly path: string;
}

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
  /** Agents: node tokens, the lease a heartbeat renews, the grace before a fence. */
  readonly nodes: NodesConfig;
  /** Kept for the libStorage front door (later). */
  readonly libstorage: { readonly host?: string; readonly raw: Readonly<Record<string, unknown>> };
  readonly services: readonly ServiceSpec[];
  /** Things accepted but ignored or changed (mostly from the 2016 layout), as `path: message`. */
  readonly warnings: readonly string[];
}

export interface NodesConfig {
  readonly leaseMs: number;
  readonly graceMs: number;
  readonly operationTimeoutMs: number;
  readonly tokens: readonly { readonly name: string; readonly token: string }[];
}
