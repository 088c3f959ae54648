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

export type CsiServiceName = 'identity' | 'controller' | 'node';

export interface CsiEndpointConfig {
  /** `unix:///absolute/path.sock` or `tcp://host:port`. */
  readonly endpoint: string;
  readonly services: readonly CsiServiceName[];
}

export interface CsiConfig {
  readonly enabled: boolean;
  /** The first is `csi.endpoint` with `csi.services`; the rest are `csi.endpoints`. */
  readonly endpoints: readonly CsiEndpointConfig[];
  /** GetPluginInfo name (default csi.polly.io). */
  readonly pluginName: string;
  /** The service CreateVolume uses when `parameters.service` is not given. */
  readonly defaultService: string;
  /** Token name whose identity CSI calls run as; absent: the admin. */
  readonly caller?: { readonly name: string; readonly role: TokenRole; readonly services: readonly string[] | '*' };
  /** Node ids ControllerPublish accepts besides server.nodeId and pool nodes. */
  readonly nodes: readonly string[];
  /** NodeGetInfo max_volumes_per_node (0 = no limit). */
  readonly maxVolumesPerNode: number;
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
  /** Claims made by accepting offers: default and longest TTL, and how often expired ones are released. */
  readonly claims: { readonly defaultTtlMs: number; readonly maxTtlMs: number; readonly expireIntervalMs: number };
  /** Agents: node tokens, the lease a heartbeat renews, the grace before a fence. */
  readonly nodes: NodesConfig;
  readonly libstorage: LibstorageConfig;
  /** The Open Service Broker front door; absent when no credentials are configured. */
  readonly osb?: OsbConfig;
  readonly docker: DockerConfig;
  readonly csi: CsiConfig;
  readonly services: readonly ServiceSpec[];
  /** Things accepted but ignored or changed (mostly from the 2016 layout), as `path: message`. */
  readonly warnings: readonly string[];
}

export interface NodesConfig {
  readonly leaseMs: number;
  readonly graceMs: number;
  readonly operationTimeoutMs: number;
  /** Node tokens; one with `nodes` may register only those node ids (D81). */
  readonly tokens: readonly { readonly name: string; readonly token: string; readonly nodes?: readonly string[] }[];
}

/** Where a front door listens: a TCP address or a unix socket. */
export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface LibstorageServiceConfig {
  readonly name: string;
  readonly service: string;
  readonly driverName: string;
  readonly driverType: 'object' | 'block' | 'nas';
  readonly jwtSecret?: string;
}

export interface LibstorageConfig {
  /** As given in the file (or env); the listener is `listen`. */
  readonly host?: string;
  /** Absent when `libstorage.enabled` is false. */
  readonly listen?: ListenAddress;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly services: readonly LibstorageServiceConfig[];
  /** The section as given (2016 layout: without server.services). */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface OsbConfig {
  /** Own listener; absent: under /v2 on the admin listener. */
  readonly listen?: { readonly host: string; readonly port: number };
  readonly username: string;
  readonly password: string;
  /** The scheduler identity the platform acts as. */
  readonly identity: string;
}

export interface DockerConfig {
  readonly enabled: boolean;
  /** Absolute path of the plugin's unix socket. */
  readonly socket: string;
  /** Optional TCP listener (announced through `specFile`). */
  readonly tcp?: { readonly host: string; readonly port: number };
  readonly specFile?: string;
  /** Service of volumes created without `-o service=`. */
  readonly service: string;
  /** Where mounted volumes appear on this host. */
  readonly mountRoot: string;
}
