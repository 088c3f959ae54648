import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import type { PoolUsage, ServiceSpec, ServiceUsage, Snapshot, Volume, VolumeStatus } from './model.js';
import { Polly } from './polly.js';
import type { Clock } from './ports/clock.js';
import { silentLogger } from './ports/logger.js';
import type { TxnOp } from './ports/store.js';
import type { ReconcileOptions } from './reconciler.js';
import { GiB, MiB } from './units.js';

const START_UP: ReconcileOptions = { intentAgeMs: 0, quiescent: true, idempotencyTtlMs: 86_400_000 };
const POOL_ID = 'default/local';

interface World {
  readonly dir: string;
  readonly spec: ServiceSpec;
  readonly store: SqliteStore;
  readonly root: string;
  polly?: Polly;
}

class ManualClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t;
}

function volume(id: string, name: string, status: VolumeStatus, sizeBytes: number, at: number): Volume {
  return {
    id, name, service: 'default', pool: POOL_ID, backendId: id, sizeBytes, iops: 0, labels: {}, fields: {}, parameters: {},
    status, schedulers: [], attachments: [], createdAt: at, updatedAt: at,
  };
}

const volumeOps = (v: Volume): TxnOp[] => [
  { type: 'put', key: keys.volume(v.id), value: v },
  { type: 'put', key: keys.volumeName(v.service, v.name), value: { id: v.id } },
];

const usageOps = (pool: Omit<PoolUsage, 'id' | 'service' | 'pool'>, service: Omit<ServiceUsage, 'service'>): TxnOp[] => [
  { type: 'put', key: keys.pool(POOL_ID), value: { id: POOL_ID, service: 'default', pool: 'local', ...pool } },
  { type: 'put', key: keys.serviceUsage('default'), value: { service: 'default', ...service } },
];

/** Makes backend volumes as the driver would have before a crash (its own instance, closed after). */
async function backend(w: World, ...ids: string[]): Promise<void> {
  const driver = createDirDriver(w.spec);
  try {
    for (const id of ids) await driver.create({ volumeId: id, pool: 'local', sizeBytes: GiB, parameters: {} });
  } finally {
    await driver.close();
  }
}

async function open(w: World, clock: Clock = { now: () => Date.now() }): Promise<Polly> {
  w.polly = await Polly.open({
    store: w.store, services: [w.spec], drivers: new Map([['default', createDirDriver(w.spec)]]),
    placement: { filters: ['service', 'capacity'], scorers: { 'least-allocated': 1 }, minFeasiblePools: 100, feasiblePercent: 5 },
    clock, logger: silentLogger,
  });
  return w.polly;
}

async function usage(w: World): Promise<{ pool: PoolUsage; service: ServiceUsage }> {
  return {
    pool: (await w.store.get<PoolUsage>(keys.pool(POOL_ID)))!.value,
    service: (await w.store.get<ServiceUsage>(keys.serviceUsage('default')))!.value,
  };
}

const status = async (w: World, id: string) => (await w.store.get<Volume>(keys.volume(id)))?.value;

describe('reconciler (real SQLite store and dir driver)', () => {
  let w: World;

  beforeEach(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'polly-reconcile-'));
    const root = path.join(dir, 'pool');
    const spec: ServiceSpec = {
      name: 'default', driver: 'dir', defaultSizeBytes: GiB, quota: {}, driverConfig: {},
      pools: [{ name: 'local', capacityBytes: 100 * GiB, overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: root } }],
    };
    w = { dir, spec, root, store: SqliteStore.open(path.join(dir, 'polly.db')) };
  });

  afterEach(async () => {
    try {
      await w.polly?.close();
      await w.store.close();
    } finally {
      await rm(w.dir, { recursive: true, force: true });
    }
  });

  it('after a crash: finishes, rolls back, completes deletes, flags missing backends, reports strays; bookkeeping stays exact', async () => {
    const t = Date.now() - 60_000;
    const finishing = volume(newId('vol'), 'finishing', 'creating', 2 * GiB, t);
    const never = volume(newId('vol'), 'never-made', 'creating', 3 * GiB, t);
    const deleting = volume(newId('vol'), 'deleting', 'deleting', 4 * GiB, t);
    const deletingGone = volume(newId('vol'), 'deleting-gone', 'deleting', 5 * GiB, t);
    const vanished = volume(newId('vol'), 'vanished', 'available', 6 * GiB, t);
    const healthy = volume(newId('vol'), 'healthy', 'available', 7 * GiB, t);
    const attachedGone = { ...volume(newId('vol'), 'attached-gone', 'attached', 8 * GiB, t), attachments: [{ nodeId: 'n1', accessMode: 'rwo' as const, readOnly: false, attachedAt: t }] };
    const all = [finishing, never, deleting, deletingGone, vanished, healthy, attachedGone];
    await w.store.txn({
      compares: [],
      ops: [
        ...all.flatMap(volumeOps),
        // The bookkeeping as the crashed process left it: creates reserved, the rest provisioned.
        ...usageOps(
          { reservedBytes: 5 * GiB, provisionedBytes: 30 * GiB, volumes: 7 },
          { volumes: 7, bytes: 35 * GiB },
        ),
      ],
    });
    await backend(w, finishing.id, deleting.id, healthy.id);
    await mkdir(path.join(w.root, 'volumes', 'stray-data'));
    await writeFile(path.join(w.root, 'volumes', 'stray-data', 'f'), 'x');

    const polly = await open(w);
    const report = await polly.reconcile(START_UP);

    assert.deepEqual(report.finished, [finishing.id]);
    assert.deepEqual(report.rolledBack, [never.id]);
    assert.deepEqual([...report.deleted].sort(), [deleting.id, deletingGone.id].sort());
    assert.deepEqual([...report.missingBackend].sort(), [vanished.id, attachedGone.id].sort());
    assert.ok(report.unmanaged.some((u) => u.service === 'default' && u.pool === 'local' && u.backendId === 'stray-data'));
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.usageFixed, [], 'every repair kept the bookkeeping exact');

    assert.equal((await status(w, finishing.id))?.status, 'available');
    assert.equal(await status(w, never.id), undefined);
    assert.equal(await w.store.get(keys.volumeName('default', 'never-made')), undefined, 'the name is free again');
    assert.equal(await status(w, deleting.id), undefined);
    assert.equal(await status(w, deletingGone.id), undefined);
    assert.equal(existsSync(path.join(w.root, 'volumes', deleting.id)), false, 'interrupted delete finished on the backend');
    const v = await status(w, vanished.id);
    assert.equal(v?.status, 'error');
    assert.equal(v?.reason, 'backend volume is missing');
    assert.equal((await status(w, attachedGone.id))?.status, 'error');
    assert.equal((await status(w, healthy.id))?.status, 'available');
    assert.ok(existsSync(path.join(w.root, 'volumes', 'stray-data')), 'strays are reported, never removed');

    const u = await usage(w);
    assert.equal(u.pool.reservedBytes, 0, 'no reservation leaked');
    assert.equal(u.pool.provisionedBytes, (2 + 6 + 7 + 8) * GiB);
    assert.equal(u.pool.volumes, 4);
    assert.deepEqual(u.service, { service: 'default', volumes: 4, bytes: (2 + 6 + 7 + 8) * GiB });
    // The live ledger agrees with the store.
    const view = polly.listPools({ kind: 'admin', name: 'admin' })[0]!;
    assert.deepEqual([view.reservedBytes, view.provisionedBytes, view.volumes], [0, u.pool.provisionedBytes, 4]);

    // A second pass has nothing left to do.
    const again = await polly.reconcile(START_UP);
    assert.deepEqual([again.finished, again.rolledBack, again.deleted, again.missingBackend, again.usageFixed], [[], [], [], [], []]);
    assert.equal(again.unmanaged.length, 1);
  });

  it('reports only strays as unmanaged, not volumes whose interrupted delete it just finished', async () => {
    const t = Date.now() - 1000;
    const deleting = volume(newId('vol'), 'deleting', 'deleting', GiB, t);
    await w.store.txn({ compares: [], ops: [...volumeOps(deleting), ...usageOps({ reservedBytes: 0, provisionedBytes: GiB, volumes: 1 }, { volumes: 1, bytes: GiB })] });
    await backend(w, deleting.id);
    await mkdir(path.join(w.root, 'volumes', 'stray-data'));
    await writeFile(path.join(w.root, 'volumes', 'stray-data', 'kept'), 'data');
    // An empty one without a record is what a delete leaves when a power loss undid its rmdir (D95).
    await mkdir(path.join(w.root, 'volumes', 'stray-empty'));
    const report = await (await open(w)).reconcile(START_UP);
    assert.deepEqual(report.deleted, [deleting.id]);
    assert.equal(existsSync(path.join(w.root, 'volumes', deleting.id)), false);
    assert.deepEqual(report.unmanaged, [{ service: 'default', pool: 'local', backendId: 'stray-data' }]);
    assert.equal(existsSync(path.join(w.root, 'volumes', 'stray-empty')), false, 'an empty volume without a record is removed');
    assert.equal(existsSync(path.join(w.root, 'volumes', 'stray-data', 'kept')), true, 'one that holds anything is only reported');
    assert.ok(report.cleaned >= 1);
  });

  it('a rolled-back create gives its reservation back so the capacity can be used again', async () => {
    const t = Date.now() - 1000;
    const never = volume(newId('vol'), 'big', 'creating', 100 * GiB, t);
    await w.store.txn({ compares: [], ops: [...volumeOps(never), ...usageOps({ reservedBytes: 100 * GiB, provisionedBytes: 0, volumes: 1 }, { volumes: 1, bytes: 100 * GiB })] });
    const polly = await open(w);
    const admin = { kind: 'admin', name: 'admin' } as const;
    await assert.rejects(polly.createVolume(admin, { service: 'default', name: 'x', sizeBytes: GiB }), /no pool can hold/);
    const report = await polly.reconcile(START_UP);
    assert.deepEqual(report.rolledBack, [never.id]);
    const made = await polly.createVolume(admin, { service: 'default', name: 'big', sizeBytes: 100 * GiB });
    assert.equal(made.volume.status, 'available');
  });

  it('young intents are left alone by a runtime pass (intentAgeMs) and handled once old enough', async () => {
    const clock = new ManualClock(1_000_000);
    const young = volume(newId('vol'), 'young', 'creating', GiB, clock.t - 1000);
    await w.store.txn({ compares: [], ops: [...volumeOps(young), ...usageOps({ reservedBytes: GiB, provisionedBytes: 0, volumes: 1 }, { volumes: 1, bytes: GiB })] });
    const polly = await open(w, clock);
    const runtime: ReconcileOptions = { intentAgeMs: 60_000, quiescent: false, idempotencyTtlMs: 86_400_000 };
    const first = await polly.reconcile(runtime);
    assert.deepEqual(first.rolledBack, []);
    assert.equal((await status(w, young.id))?.status, 'creating');
    clock.t += 60_000;
    const second = await polly.reconcile(runtime);
    assert.deepEqual(second.rolledBack, [young.id]);
    assert.equal((await usage(w)).pool.reservedBytes, 0);
  });

  it('usage drift is fixed only when quiescent', async () => {
    const healthy = volume(newId('vol'), 'healthy', 'available', 3 * GiB, Date.now());
    await w.store.txn({
      compares: [],
      ops: [...volumeOps(healthy), ...usageOps({ reservedBytes: 2 * GiB, provisionedBytes: 999, volumes: 9 }, { volumes: 9, bytes: 12345 })],
    });
    await backend(w, healthy.id);
    const polly = await open(w);

    const runtime = await polly.reconcile({ intentAgeMs: 0, quiescent: false, idempotencyTtlMs: 86_400_000 });
    assert.deepEqual(runtime.usageFixed, []);
    assert.equal((await usage(w)).pool.provisionedBytes, 999);

    const report = await polly.reconcile(START_UP);
    assert.deepEqual([...report.usageFixed].sort(), [POOL_ID, 'service default']);
    const u = await usage(w);
    assert.deepEqual([u.pool.reservedBytes, u.pool.provisionedBytes, u.pool.volumes], [0, 3 * GiB, 1]);
    assert.deepEqual(u.service, { service: 'default', volumes: 1, bytes: 3 * GiB });
    assert.deepEqual((await polly.reconcile(START_UP)).usageFixed, []);
  });

  it('removes leftovers of interrupted copies only when quiescent, and expires old idempotency keys', async () => {
    const clock = new ManualClock(Date.now());
    await mkdir(path.join(w.root, '.staging', `${newId('vol')}.0123456789ab`), { recursive: true });
    await w.store.txn({
      compares: [],
      ops: [
        { type: 'put', key: keys.idempotency('admin', 'old'), value: { fingerprint: 'x', volumeId: 'vol-x', createdAt: clock.t - 2 * 86_400_000 } },
        { type: 'put', key: keys.idempotency('admin', 'new'), value: { fingerprint: 'x', volumeId: 'vol-y', createdAt: clock.t - 1000 } },
      ],
    });
    const polly = await open(w, clock);
    const runtime = await polly.reconcile({ intentAgeMs: 0, quiescent: false, idempotencyTtlMs: 86_400_000 });
    assert.equal(runtime.cleaned, 0);
    assert.equal(runtime.idempotencyExpired, 1);
    assert.equal(await w.store.get(keys.idempotency('admin', 'old')), undefined);
    assert.ok(await w.store.get(keys.idempotency('admin', 'new')));
    const startUp = await polly.reconcile(START_UP);
    assert.equal(startUp.cleaned, 1);
  });

  it('snapshot intents: a made snapshot becomes ready, an unmade one is removed, a delete is finished', async () => {
    const t = Date.now() - 1000;
    const src = volume(newId('vol'), 'src', 'available', 10 * MiB, t);
    await w.store.txn({ compares: [], ops: [...volumeOps(src), ...usageOps({ reservedBytes: 0, provisionedBytes: 10 * MiB, volumes: 1 }, { volumes: 1, bytes: 10 * MiB })] });
    await backend(w, src.id);
    const made = newId('snap');
    const unmade = newId('snap');
    const deleting = newId('snap');
    const driver = createDirDriver(w.spec);
    try {
      await driver.snapshot(made, { pool: 'local', backendId: src.id });
      await driver.snapshot(deleting, { pool: 'local', backendId: src.id });
    } finally {
      await driver.close();
    }
    const snap = (id: string, name: string, s: Snapshot['status']): Snapshot => ({
      id, name, service: 'default', pool: POOL_ID, backendId: id, volumeId: src.id, sizeBytes: 10 * MiB, status: s, labels: {}, createdAt: t,
    });
    await w.store.txn({
      compares: [],
      ops: [
        [snap(made, 'made', 'creating'), snap(unmade, 'unmade', 'creating'), snap(deleting, 'gone', 'deleting')].flatMap((s): TxnOp[] => [
          { type: 'put', key: keys.snapshot(s.id), value: s },
          { type: 'put', key: keys.snapshotName('default', s.name), value: { id: s.id } },
        ]),
      ].flat(),
    });
    const polly = await open(w);
    const report = await polly.reconcile(START_UP);
    assert.ok(report.finished.includes(made));
    assert.ok(report.rolledBack.includes(unmade));
    assert.ok(report.deleted.includes(deleting));
    assert.equal((await w.store.get<Snapshot>(keys.snapshot(made)))?.value.status, 'ready');
    assert.equal(await w.store.get(keys.snapshot(unmade)), undefined);
    assert.equal(await w.store.get(keys.snapshotName('default', 'unmade')), undefined);
    assert.equal(await w.store.get(keys.snapshot(deleting)), undefined);
    assert.equal(existsSync(path.join(w.root, 'snapshots', deleting)), false);
    assert.deepEqual(report.unmanaged, [], 'a snapshot whose delete was just finished is not unmanaged');
  });
});
