/**
 * Several `polly server` replicas on one etcd cluster (real processes), sharing one dir pool.
 */
import { api, startPollyServer, tempDir, type RunningServer } from './server-process.js';

export interface ReplicaSetOptions {
  readonly endpoints: readonly string[];
  readonly replicas: number;
  /** Services as in the config file; pool paths should point at a directory all replicas share. */
  readonly services: Record<string, unknown>;
  readonly timeout?: string;
  /** The etcd key prefix (default: a new unique one); replicas of one set must share it. */
  readonly prefix?: string;
  /** More `store:` settings (tls, auth, …). */
  readonly store?: Record<string, unknown>;
}

export interface Version {
  readonly replica: string;
  readonly leader: string | null;
  readonly leading: boolean;
}

/** A unique etcd key prefix, so suites sharing a cluster never meet. */
export const uniquePrefix = (what: string): string => `/polly-test-${what}-${process.pid}-${Date.now().toString(36)}/`;

export async function startReplicas(options: ReplicaSetOptions): Promise<RunningServer[]> {
  const prefix = options.prefix ?? uniquePrefix('replicas');
  const config = {
    store: { type: 'etcd', endpoints: [...options.endpoints], prefix, leaseTtl: '2s', timeout: options.timeout ?? '2s', maxTxnOps: 1024, ...options.store },
    services: options.services,
    log: { level: 'info' },
  };
  const out: RunningServer[] = [];
  for (let i = 0; i < options.replicas; i++) out.push(await startPollyServer({ config, dataDir: tempDir(`replica-${i}`) }));
  return out;
}

export async function versionOf(server: RunningServer): Promise<Version | undefined> {
  try {
    const res = await api(server, 'GET', '/v1/version', undefined, {}, 2000);
    return res.status === 200 ? (res.body as Version) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until exactly one of `servers` says it leads; returns it and how long that took. */
export async function waitForLeader(servers: readonly RunningServer[], timeoutMs = 15_000): Promise<{ leader: RunningServer; ms: number }> {
  const t0 = Date.now();
  let versions: (Version | undefined)[] = [];
  while (Date.now() - t0 < timeoutMs) {
    versions = await Promise.all(servers.map(versionOf));
    const leading = servers.filter((_, i) => versions[i]?.leading === true);
    if (leading.length === 1) return { leader: leading[0]!, ms: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`not exactly one replica leads after ${timeoutMs} ms: ${JSON.stringify(versions)}`);
}
