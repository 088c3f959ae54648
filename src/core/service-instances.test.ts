import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { PollyError, type ErrorCode } from './errors.js';
import { keys } from './keys.js';
import { ADMIN, type Caller, type ServiceSpec } from './model.js';
import { Polly } from './polly.js';
import { systemClock } from './ports/clock.js';
import { silentLogger } from './ports/logger.js';
import { MiB } from './units.js';

const CF: Caller = { kind: 'scheduler', name: 'cf', services: '*' };
const OTHER: Caller = { kind: 'scheduler', name: 'other', services: '*' };

/** A Polly with one dir service of 64 MiB (quota 48 MiB) on a SQLite store. */
async function withPolly(fn: (polly: Polly, store: SqliteStore) => Promise<void>): Promise<void> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-instances-'));
  const store = SqliteStore.open(path.join(tmp, 'polly.db'));
  const spec: ServiceSpec = {
    name: 'default', driver: 'dir', defaultSizeBytes: 4 * MiB, quota: { maxBytes: 48 * MiB }, driverConfig: {},
    pools: [{ name: 'local', capacityBytes: 64 * MiB, overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: path.join(tmp, 'pool') } }],
  };
  const polly = await Polly.open({
    store, services: [spec], drivers: new Map([['default', createDirDriver(spec)]]), clock: systemClock, logger: silentLogger,
    placement: { filters: ['service', 'capacity'], scorers: {}, minFeasiblePools: 10, feasiblePercent: 100 },
  });
  try {
    await fn(polly, store);
  } finally {
    await polly.close();
    await store.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof PollyError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const until = async (fn: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
};

const input = (id: string, sizeBytes = 4 * MiB, fingerprint = `fp-${sizeBytes}`) => ({ instanceId: id, service: 'default', plan: 'p1', sizeBytes, fingerprint });

describe('service instances', () => {
  it('provisions once per instance id; the same request again returns it, another conflicts', () =>
    withPolly(async (polly) => {
      const { instance, created } = await polly.provisionInstance(CF, input('i-1'), false);
      assert.equal(created, true);
      assert.equal(instance.state, 'succeeded');
      const volume = await polly.getVolume(CF, instance.volumeId!);
      assert.equal(volume.name, 'osb-i-1');
      assert.deepEqual(volume.schedulers, ['cf']);
      assert.equal((await polly.provisionInstance(CF, input('i-1'), false)).created, false);
      await expectCode(polly.provisionInstance(CF, input('i-1', 8 * MiB), false), 'ALREADY_EXISTS');
      await expectCode(polly.provisionInstance(OTHER, input('i-1'), false), 'ALREADY_EXISTS');
      await expectCode(polly.getInstance(OTHER, 'i-1'), 'NOT_FOUND');
      assert.equal((await polly.getInstance(ADMIN, 'i-1')).id, 'i-1');
    }));

  it('leaves nothing behind when a synchronous provision fails', () =>
    withPolly(async (polly, store) => {
      await expectCode(polly.provisionInstance(CF, input('big', 60 * MiB), false), 'QUOTA_EXCEEDED');
      assert.equal(await store.get(keys.serviceInstance('big')), undefined);
      assert.equal((await polly.listVolumes(ADMIN, {})).items.length, 0);
      await expectCode(polly.provisionInstance(CF, { ...input('bad'), instanceId: 'a/b' }, false), 'INVALID_ARGUMENT');
      await expectCode(polly.provisionInstance(CF, { ...input('bad'), instanceId: 'x'.repeat(101) }, false), 'INVALID_ARGUMENT');
    }));

  it('records a failed background provision; deprovisioning it removes everything', () =>
    withPolly(async (polly, store) => {
      const started = await polly.provisionInstance(CF, input('big', 60 * MiB), true);
      assert.equal(started.instance.state, 'in progress');
      await until(async () => (await polly.getInstance(CF, 'big')).state !== 'in progress');
      const failed = await polly.getInstance(CF, 'big');
      assert.equal(failed.state, 'failed');
      assert.match(failed.description!, /48Mi/);
      await expectCode(polly.bindInstance(CF, { instanceId: 'big', bindingId: 'b', fingerprint: 'x' }), 'FAILED_PRECONDITION');
      const { done } = await polly.deprovisionInstance(CF, 'big', false);
      assert.equal(done, true);
      assert.equal(await store.get(keys.serviceInstance('big')), undefined);
    }));

  it('binds, refuses to deprovision while bound, grows, and deprovisions in the background', () =>
    withPolly(async (polly) => {
      const { instance } = await polly.provisionInstance(CF, input('i-2'), false);
      const b = await polly.bindInstance(CF, { instanceId: 'i-2', bindingId: 'b-1', readOnly: true, containerDir: '/data', fingerprint: 'f1' });
      assert.equal(b.created, true);
      assert.equal(b.binding.readOnly, true);
      assert.equal((await polly.bindInstance(CF, { instanceId: 'i-2', bindingId: 'b-1', fingerprint: 'f1' })).created, false);
      await expectCode(polly.bindInstance(CF, { instanceId: 'i-2', bindingId: 'b-1', fingerprint: 'f2' }), 'ALREADY_EXISTS');
      await expectCode(polly.deprovisionInstance(CF, 'i-2', false), 'FAILED_PRECONDITION');

      const grown = await polly.updateInstance(CF, 'i-2', { sizeBytes: 8 * MiB }, false);
      assert.equal(grown.sizeBytes, 8 * MiB);
      assert.equal((await polly.getVolume(CF, instance.volumeId!)).sizeBytes, 8 * MiB);
      await expectCode(polly.updateInstance(CF, 'i-2', { plan: 'p2' }, false), 'UNSUPPORTED');
      await expectCode(polly.updateInstance(CF, 'i-2', { sizeBytes: 2 * MiB }, false), 'OUT_OF_RANGE');

      await polly.unbindInstance(CF, 'i-2', 'b-1');
      await expectCode(polly.unbindInstance(CF, 'i-2', 'b-1'), 'NOT_FOUND');
      const { done } = await polly.deprovisionInstance(CF, 'i-2', true);
      assert.equal(done, false);
      await until(async () => polly.getInstance(CF, 'i-2').then(() => false, () => true));
      await expectCode(polly.getVolume(ADMIN, instance.volumeId!), 'NOT_FOUND');
    }));

  it('marks operations interrupted by a restart failed', () =>
    withPolly(async (polly, store) => {
      await polly.provisionInstance(CF, input('done'), false);
      const now = Date.now();
      await store.txn({ compares: [], ops: [{ type: 'put', key: keys.serviceInstance('stuck'), value: {
        id: 'stuck', owner: 'cf', service: 'default', plan: 'p1', volumeName: 'osb-stuck', labels: {}, fingerprint: 'f',
        state: 'in progress', operation: 'provision', createdAt: now, updatedAt: now,
      } }] });
      assert.equal(await polly.failInterruptedInstances(), 1);
      const stuck = await polly.getInstance(CF, 'stuck');
      assert.equal(stuck.state, 'failed');
      assert.match(stuck.description!, /restarted during the provision/);
      assert.equal((await polly.getInstance(CF, 'done')).state, 'succeeded');
      assert.equal((await polly.deprovisionInstance(CF, 'stuck', false)).done, true, 'and can be cleaned up');
    }));
});
