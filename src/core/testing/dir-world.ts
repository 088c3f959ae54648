import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDirDriver } from '../../drivers/dir/dir-driver.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { PoolSpec, ServiceSpec } from '../model.js';
import { Polly } from '../polly.js';
import { systemClock } from '../ports/clock.js';
import { silentLogger } from '../ports/logger.js';
import { MiB } from '../units.js';

export type PoolOptions = Partial<Omit<PoolSpec, 'name'>> & { readonly name: string };

/**
 * A Polly over a real SQLite file and real dir-driver pools in a temp dir, for core unit tests:
 * one service `default` with the pools given (and the quota given). Removed afterwards.
 */
export async function withDirWorld(pools: readonly PoolOptions[], fn: (polly: Polly) => Promise<void>, quota: ServiceSpec['quota'] = {}): Promise<void> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-core-'));
  const store = SqliteStore.open(path.join(tmp, 'polly.db'));
  const spec: ServiceSpec = {
    name: 'default', driver: 'dir', defaultSizeBytes: MiB, quota, driverConfig: {},
    pools: pools.map((p) => ({ overcommit: 1, types: [], labels: {}, maxIops: 0, ...p, params: { path: path.join(tmp, p.name), ...(p.params ?? {}) } })),
  };
  let polly: Polly | undefined;
  try {
    polly = await Polly.open({
      store, services: [spec], drivers: new Map([['default', createDirDriver(spec)]]), clock: systemClock, logger: silentLogger,
      placement: { filters: ['service', 'capacity', 'type', 'topology', 'iops', 'labels'], scorers: {}, minFeasiblePools: 10, feasiblePercent: 100 },
    });
    await fn(polly);
  } finally {
    await polly?.close();
    await store.close();
    await rm(tmp, { recursive: true, force: true });
  }
}
