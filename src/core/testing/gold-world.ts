import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDirDriver } from '../../drivers/dir/dir-driver.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { ServiceSpec } from '../model.js';
import { Polly, type CoreDeps } from '../polly.js';
import { systemClock } from '../ports/clock.js';
import { silentLogger } from '../ports/logger.js';
import { GiB } from '../units.js';

export interface GoldWorld {
  readonly dir: string;
  readonly store: SqliteStore;
  readonly polly: Polly;
  close(): Promise<void>;
}

/**
 * The offer suites' world: one service `gold` with one 10 GiB dir pool `g1` in a temp dir, over
 * an in-memory store. `extra` adds core options (e.g. the offer feed's).
 */
export async function openGoldWorld(prefix: string, extra: Partial<CoreDeps> = {}): Promise<GoldWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const spec: ServiceSpec = {
    name: 'gold', driver: 'dir', defaultSizeBytes: GiB, quota: {}, driverConfig: {},
    pools: [{ name: 'g1', capacityBytes: 10 * GiB, overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: path.join(dir, 'g1') } }],
  };
  const store = SqliteStore.open(':memory:');
  const polly = await Polly.open({
    store, services: [spec], drivers: new Map([['gold', createDirDriver(spec)]]), clock: systemClock, logger: silentLogger,
    placement: { filters: ['service', 'capacity'], scorers: {}, minFeasiblePools: 10, feasiblePercent: 5 },
    ...extra,
  });
  return {
    dir, store, polly,
    close: async () => {
      await polly.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
