import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ADMIN, type Caller, type ServiceSpec } from './model.js';
import { Polly } from './polly.js';
import { systemClock } from './ports/clock.js';
import { silentLogger } from './ports/logger.js';
import { expectCode } from './testing/expect-code.js';
import { MiB } from './units.js';

/** A Polly with one dir service whose pool holds 100 MiB (no overcommit) and a 150 MiB quota. */
async function withPolly(fn: (polly: Polly, root: string) => Promise<void>): Promise<void> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-expand-'));
  const store = SqliteStore.open(path.join(tmp, 'polly.db'));
  const root = path.join(tmp, 'pool');
  const spec: ServiceSpec = {
    name: 'default', driver: 'dir', defaultSizeBytes: MiB, quota: { maxBytes: 150 * MiB }, driverConfig: {},
    pools: [{ name: 'local', capacityBytes: 100 * MiB, overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: root } }],
  };
  let polly: Polly | undefined;
  try {
    polly = await Polly.open({
      store, services: [spec], drivers: new Map([['default', createDirDriver(spec)]]), clock: systemClock, logger: silentLogger,
      placement: { filters: ['service', 'capacity'], scorers: {}, minFeasiblePools: 10, feasiblePercent: 100 },
    });
    await fn(polly, root);
  } finally {
    await polly?.close();
    store.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

const provisioned = (polly: Polly): number => polly.listPools(ADMIN)[0]!.provisionedBytes;

describe('expandVolume', () => {
  it('grows a volume through the ledger and the driver; the same size again is fine', () =>
    withPolly(async (polly) => {
      const { volume } = await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: 40 * MiB });
      const grown = await polly.expandVolume(ADMIN, volume.id, 80 * MiB);
      assert.equal(grown.sizeBytes, 80 * MiB);
      assert.equal((await polly.getVolume(ADMIN, volume.id)).sizeBytes, 80 * MiB);
      assert.equal(provisioned(polly), 80 * MiB);
      assert.equal((await polly.ctx.drivers.get('default')!.list('local'))[0]!.sizeBytes, 80 * MiB, 'the backend has the new size');
      assert.deepEqual(await polly.expandVolume(ADMIN, volume.id, 80 * MiB), grown);
      assert.equal(provisioned(polly), 80 * MiB);
    }));

  it('refuses to shrink, bad sizes, a full pool and an exceeded quota, changing nothing', () =>
    withPolly(async (polly) => {
      const { volume } = await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: 40 * MiB });
      await expectCode(polly.expandVolume(ADMIN, volume.id, 20 * MiB), 'OUT_OF_RANGE', /cannot shrink/);
      for (const bad of [0, -1, 1.5, Number.NaN, '10' as unknown as number]) await expectCode(polly.expandVolume(ADMIN, volume.id, bad), 'INVALID_ARGUMENT', /^sizeBytes: /);
      const { volume: other } = await polly.createVolume(ADMIN, { service: 'default', name: 'w', sizeBytes: 50 * MiB });
      assert.ok(other);
      await expectCode(polly.expandVolume(ADMIN, volume.id, 60 * MiB), 'INSUFFICIENT_CAPACITY', /pool local: expanding volume .* needs 20Mi more, 10Mi free/);
      await expectCode(polly.expandVolume(ADMIN, volume.id, 120 * MiB), 'QUOTA_EXCEEDED', /would use 170Mi of at most 150Mi/);
      await expectCode(polly.expandVolume(ADMIN, 'vol-nope', 50 * MiB), 'NOT_FOUND');
      const scheduler: Caller = { kind: 'scheduler', name: 'k8s', services: '*' };
      await expectCode(polly.expandVolume(scheduler, volume.id, 50 * MiB), 'NOT_FOUND');
      assert.equal((await polly.getVolume(ADMIN, volume.id)).sizeBytes, 40 * MiB);
      assert.equal(provisioned(polly), 90 * MiB);
    }));

  it('gives the bytes back when the backend refuses', () =>
    withPolly(async (polly, root) => {
      const { volume } = await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: 40 * MiB });
      await rm(path.join(root, 'volumes', volume.backendId), { recursive: true }); // the backend lost it
      await expectCode(polly.expandVolume(ADMIN, volume.id, 60 * MiB), 'NOT_FOUND');
      assert.equal((await polly.getVolume(ADMIN, volume.id)).sizeBytes, 40 * MiB);
      assert.equal(provisioned(polly), 40 * MiB);
    }));
});
