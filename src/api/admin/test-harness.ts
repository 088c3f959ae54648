/**
 * In-process test harness of the admin API (tests only): a real SQLite store and real `dir`
 * pools in a fresh temp directory, Polly opened on them, a start-up reconcile, and the fastify
 * app ready for `app.inject()` — no sockets. `close()` undoes all of it, temp dir included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type { PlacementOptions } from '../../core/placement/placement.js';
import type { ClaimSettings } from '../../core/context.js';
import type { OfferFeedOptions } from '../../core/offer-feed.js';
import { Polly } from '../../core/polly.js';
import { systemClock, type Clock } from '../../core/ports/clock.js';
import { silentLogger } from '../../core/ports/logger.js';
import type { StorageDriver } from '../../core/ports/storage-driver.js';
import { GiB } from '../../core/units.js';
import { createDriver, createDriverRegistry } from '../../drivers/registry.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { buildAdminApi } from './admin-api.js';
import { TokenAuth, type TokenEntry } from './auth.js';

export interface HarnessOptions {
  /**
   * Services to run (default: service `default` with one dir pool `local` of 100Gi). A pool
   * without an absolute `params.path` gets `<dataDir>/pools/<service>/<pool>`.
   */
  readonly services?: readonly ServiceSpec[];
  /** Bearer tokens; none means an open (loopback) server where every caller is the admin. */
  readonly tokens?: readonly TokenEntry[];
  readonly placement?: PlacementOptions;
  readonly clock?: Clock;
  readonly bodyLimitBytes?: number;
  readonly claims?: ClaimSettings;
  readonly offerFeed?: OfferFeedOptions;
  readonly offerHeartbeatMs?: number;
}

export interface Harness {
  readonly app: FastifyInstance;
  readonly polly: Polly;
  readonly store: SqliteStore;
  readonly dataDir: string;
  /** The services as Polly runs them (pool paths filled in). */
  readonly services: readonly ServiceSpec[];
  /** Root directory of a pool (`<root>/volumes/<backendId>` holds a volume). */
  poolRoot(service?: string, pool?: string): string;
  close(): Promise<void>;
}

export const TEST_VERSION = '0.0.0-test';
export const TEST_NODE_ID = 'test-node';

export const DEFAULT_PLACEMENT: PlacementOptions = Object.freeze({
  filters: ['service', 'capacity', 'type', 'topology', 'iops', 'labels'],
  scorers: { 'least-allocated': 1, 'zone-spread': 1 },
  minFeasiblePools: 100,
  feasiblePercent: 5,
});

/** A dir pool spec with test defaults (100Gi, no overcommit, no types or labels). */
export function poolSpec(name: string, overrides: Partial<PoolSpec> = {}): PoolSpec {
  return { name, capacityBytes: 100 * GiB, overcommit: 1, types: [], labels: {}, maxIops: 0, params: {}, ...overrides };
}

/** A dir service spec with test defaults (1Gi default size, no quota). */
export function serviceSpec(name: string, pools: readonly PoolSpec[] = [poolSpec('local')], overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return { name, driver: 'dir', defaultSizeBytes: GiB, quota: {}, pools, driverConfig: {}, ...overrides };
}

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'polly-admin-test-'));
  const poolDir = (service: string, pool: string) => path.join(dataDir, 'pools', service, pool);
  const services = (opts.services ?? [serviceSpec('default')]).map((s) => ({
    ...s,
    pools: s.pools.map((p) => {
      const given = p.params['path'];
      return typeof given === 'string' && path.isAbsolute(given) ? p : { ...p, params: { ...p.params, path: poolDir(s.name, p.name) } };
    }),
  }));

  let store: SqliteStore | undefined;
  let polly: Polly | undefined;
  let app: FastifyInstance | undefined;
  const drivers = new Map<string, StorageDriver>();
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await app?.close();
    } finally {
      try {
        if (polly) await polly.close();
        else for (const d of drivers.values()) await d.close();
      } finally {
        try {
          await store?.close();
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      }
    }
  };

  try {
    store = SqliteStore.open(path.join(dataDir, 'polly.db'));
    const registry = createDriverRegistry();
    for (const s of services) drivers.set(s.name, createDriver(registry, s));
    polly = await Polly.open({
      store, services, drivers, placement: opts.placement ?? DEFAULT_PLACEMENT, clock: opts.clock ?? systemClock, logger: silentLogger,
      ...(opts.claims ? { claims: opts.claims } : {}), ...(opts.offerFeed ? { offerFeed: opts.offerFeed } : {}),
    });
    await polly.reconcile({ intentAgeMs: 0, quiescent: true, idempotencyTtlMs: 86_400_000 });
    app = await buildAdminApi({
      polly, auth: new TokenAuth(opts.tokens ?? []), version: TEST_VERSION, nodeId: TEST_NODE_ID,
      bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024,
      ...(opts.offerHeartbeatMs !== undefined ? { offerHeartbeatMs: opts.offerHeartbeatMs } : {}),
    });
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }

  return {
    app, polly, store, dataDir, services,
    poolRoot: (service = 'default', pool = 'local') => {
      const spec = services.find((s) => s.name === service)?.pools.find((p) => p.name === pool);
      if (!spec) throw new Error(`harness: no pool ${service}/${pool}`);
      return spec.params['path'] as string;
    },
    close,
  };
}

/** An answer of `injectJson`: the body parsed when it is JSON. */
export interface InjectedResponse {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** Sends one request through `app.inject()` (no socket) and parses a JSON answer. */
export async function injectJson(h: Harness, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<InjectedResponse> {
  const r = await h.app.inject({
    method: method as 'GET', url, headers,
    ...(payload !== undefined ? { payload: payload as string } : {}),
  });
  let body: unknown;
  try {
    body = r.body === '' ? undefined : JSON.parse(r.body);
  } catch {
    body = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text: r.body, body };
}
