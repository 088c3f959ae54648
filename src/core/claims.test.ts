import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { PollyError } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Claim, PoolSpec, ServiceSpec, ServiceUsage, PoolUsage } from './model.js';
import { ADMIN } from './model.js';
import { capacityOfferId, decodeOfferId, volumeOfferId, type CapacityOffer, type Offer } from './offers.js';
import { Polly } from './polly.js';
import type { Clock } from './ports/clock.js';
import { silentLogger } from './ports/logger.js';
import type { StorageDriver } from './ports/storage-driver.js';
import { GiB, MiB } from './units.js';

class ManualClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t;
}

const mesos: Caller = { kind: 'scheduler', name: 'mesos', services: '*' };
const k8s: Caller = { kind: 'scheduler', name: 'k8s', services: ['gold'] };

function pool(name: string, capacityBytes: number, extra: Partial<PoolSpec> = {}): PoolSpec {
  return { name, capacityBytes, overcommit: 1, types: [], labels: {}, maxIops: 0, params: {}, ...extra };
}

interface World {
  readonly dir: string;
  readonly store: SqliteStore;
  readonly clock: ManualClock;
  readonly polly: Polly;
}

let w: World;

async function open(services: (root: string) => ServiceSpec[]): Promise<World> {
  const dir = await mkdtemp(path.join(tmpdir(), 'polly-claims-'));
  const specs = services(dir);
  const store = SqliteStore.open(':memory:');
  const clock = new ManualClock(1_700_000_000_000);
  const drivers = new Map<string, StorageDriver>(specs.map((s) => [s.name, createDirDriver(s)]));
  const polly = await Polly.open({
    store, services: specs, drivers, clock, logger: silentLogger,
    placement: { filters: ['service', 'capacity', 'type', 'topology', 'iops', 'labels'], scorers: { 'least-allocated': 1 }, minFeasiblePools: 10, feasiblePercent: 5 },
    claims: { defaultTtlMs: 60_000, maxTtlMs: 600_000 },
  });
  return { dir, store, clock, polly };
}

const dirPool = (root: string, name: string, capacityBytes: number, extra: Partial<PoolSpec> = {}) =>
  pool(name, capacityBytes, { ...extra, params: { path: path.join(root, name) } });

function twoServices(root: string): ServiceSpec[] {
  return [
    { name: 'gold', driver: 'dir', defaultSizeBytes: GiB, quota: {}, driverConfig: {}, pools: [dirPool(root, 'g1', 10 * GiB, { zone: 'a', types: ['ssd'], labels: { tier: 'fast' } }), dirPool(root, 'g2', 4 * GiB, { zone: 'b' })] },
    { name: 'bronze', driver: 'dir', defaultSizeBytes: GiB, quota: { maxBytes: 3 * GiB }, driverConfig: {}, pools: [dirPool(root, 'b1', 100 * GiB)] },
  ];
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof PollyError) return e.code;
    throw e;
  }
}

const capacity = (offers: Offer[], poolId: string): CapacityOffer | undefined =>
  offers.find((o): o is CapacityOffer => o.kind === 'capacity' && o.pool === poolId);

async function usage(poolId: string): Promise<PoolUsage> {
  return (await w.store.get<PoolUsage>(keys.pool(poolId)))!.value;
}

describe('offers and claims (core)', () => {
  beforeEach(async () => {
    w = await open(twoServices);
  });
  afterEach(async () => {
    await w.polly.close();
    await w.store.close();
    await rm(w.dir, { recursive: true, force: true });
  });

  it('offer ids are URL-safe, stable, and decode to their pool or volume; foreign ids are not found', () => {
    const id = capacityOfferId('gold/g1');
    assert.match(id, /^ofr-[A-Za-z0-9_-]+$/);
    assert.equal(capacityOfferId('gold/g1'), id);
    assert.deepEqual(decodeOfferId(id), { kind: 'capacity', id: 'gold/g1' });
    assert.deepEqual(decodeOfferId(volumeOfferId('vol-x')), { kind: 'volume', id: 'vol-x' });
    for (const bad of ['', 'ofr-', 'ofr-!!!!', 'vol-123', `ofr-${Buffer.from('x:gold/g1').toString('base64url')}`, 'ofr-../../etc']) {
      assert.throws(() => decodeOfferId(bad), (e: PollyError) => e.code === 'NOT_FOUND', bad);
    }
  });

  it('capacity offers cover the pools of the services a scheduler may use, with topology, types, labels and quota-bounded sizes', async () => {
    const all = await w.polly.listOffers(mesos);
    assert.deepEqual(all.filter((o) => o.kind === 'capacity').map((o) => o.pool).sort(), ['bronze/b1', 'gold/g1', 'gold/g2']);
    const g1 = capacity(all, 'gold/g1')!;
    assert.equal(g1.zone, 'a');
    assert.deepEqual(g1.types, ['ssd']);
    assert.deepEqual(g1.labels, { tier: 'fast' });
    assert.equal(g1.freeBytes, 10 * GiB);
    assert.equal(g1.maxVolumeBytes, 10 * GiB);
    const b1 = capacity(all, 'bronze/b1')!;
    assert.equal(b1.freeBytes, 100 * GiB);
    assert.equal(b1.maxVolumeBytes, 3 * GiB, 'bounded by the service quota');
    const limited = await w.polly.listOffers(k8s);
    assert.deepEqual(limited.map((o) => o.pool).sort(), ['gold/g1', 'gold/g2']);
  });

  it('a capacity claim reserves bytes: the offer shrinks, creates see it, and an oversized accept is INSUFFICIENT_CAPACITY naming the pool', async () => {
    const offerId = capacityOfferId('gold/g2');
    const claim = await w.polly.acceptOffer(mesos, offerId, { sizeBytes: 3 * GiB });
    assert.equal(claim.kind, 'capacity');
    assert.match(claim.id, /^clm-/);
    assert.equal(claim.scheduler, 'mesos');
    assert.equal(claim.expiresAt - w.clock.t, 60_000, 'default TTL');
    assert.equal((await usage('gold/g2')).reservedBytes, 3 * GiB);
    assert.equal(capacity(await w.polly.listOffers(mesos), 'gold/g2')!.freeBytes, GiB);

    const err = await w.polly.acceptOffer(mesos, offerId, { sizeBytes: 2 * GiB }).catch((e: PollyError) => e);
    assert.ok(err instanceof PollyError);
    assert.equal(err.code, 'INSUFFICIENT_CAPACITY');
    assert.match(err.message, /gold\/g2.*needs 2Gi, 1Gi free/);

    // A create without a claim can no longer take the reserved bytes.
    assert.equal(await code(w.polly.createVolume(k8s, { service: 'gold', name: 'big', sizeBytes: 2 * GiB, zones: ['b'] })), 'INSUFFICIENT_CAPACITY');
  });

  it('1,000 concurrent accepts against room for 100 give exactly 100 claims', async () => {
    const offerId = capacityOfferId('gold/g1');
    const results = await Promise.allSettled(Array.from({ length: 1000 }, () => w.polly.acceptOffer(mesos, offerId, { sizeBytes: 100 * MiB + 2 * MiB })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    // 10 GiB / 102 MiB = 100.39 → 100 claims.
    assert.equal(ok.length, 100);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as PollyError).code, 'INSUFFICIENT_CAPACITY');
    assert.equal((await w.polly.listClaims(mesos)).length, 100);
    assert.equal((await usage('gold/g1')).reservedBytes, 100 * 102 * MiB);
  });

  it('TTL: bounded by the maximum; bad sizes and TTLs are clear errors', async () => {
    const offerId = capacityOfferId('gold/g1');
    assert.equal(await code(w.polly.acceptOffer(mesos, offerId, { sizeBytes: GiB, ttlSeconds: 601 })), 'OUT_OF_RANGE');
    assert.equal(await code(w.polly.acceptOffer(mesos, offerId, { sizeBytes: GiB, ttlSeconds: 0 })), 'INVALID_ARGUMENT');
    assert.equal(await code(w.polly.acceptOffer(mesos, offerId, {})), 'INVALID_ARGUMENT');
    assert.equal(await code(w.polly.acceptOffer(mesos, offerId, { sizeBytes: -1 })), 'INVALID_ARGUMENT');
    assert.equal(await code(w.polly.acceptOffer(k8s, capacityOfferId('bronze/b1'), { sizeBytes: GiB })), 'NOT_FOUND', 'a service it may not use');
    const c = await w.polly.acceptOffer(mesos, offerId, { sizeBytes: GiB, ttlSeconds: 600 });
    assert.equal(c.expiresAt - w.clock.t, 600_000);
  });

  it('the service quota bounds capacity claims too', async () => {
    const offerId = capacityOfferId('bronze/b1');
    await w.polly.acceptOffer(mesos, offerId, { sizeBytes: 2 * GiB });
    assert.equal(capacity(await w.polly.listOffers(mesos), 'bronze/b1')!.maxVolumeBytes, GiB);
    assert.equal(await code(w.polly.acceptOffer(mesos, offerId, { sizeBytes: 2 * GiB })), 'QUOTA_EXCEEDED');
  });

  it('expireClaims releases expired capacity claims (and only those)', async () => {
    const offerId = capacityOfferId('gold/g2');
    const short = await w.polly.acceptOffer(mesos, offerId, { sizeBytes: GiB, ttlSeconds: 10 });
    const long = await w.polly.acceptOffer(mesos, offerId, { sizeBytes: GiB, ttlSeconds: 100 });
    w.clock.t += 10_000;
    const report = await w.polly.expireClaims();
    assert.deepEqual(report.released, [short.id]);
    assert.deepEqual((await w.polly.listClaims(ADMIN)).map((c) => c.id), [long.id]);
    assert.equal((await usage('gold/g2')).reservedBytes, GiB);
    w.clock.t += 100_000;
    assert.deepEqual((await w.polly.expireClaims()).released, [long.id]);
    assert.equal((await usage('gold/g2')).reservedBytes, 0);
    assert.equal(capacity(await w.polly.listOffers(mesos), 'gold/g2')!.freeBytes, 4 * GiB);
  });

  it('release: only the owner or an admin; others get NOT_FOUND', async () => {
    const c = await w.polly.acceptOffer(mesos, capacityOfferId('gold/g1'), { sizeBytes: GiB });
    assert.equal(await code(w.polly.releaseClaim(k8s, c.id)), 'NOT_FOUND');
    assert.deepEqual(await w.polly.listClaims(k8s), []);
    await w.polly.releaseClaim(ADMIN, c.id);
    assert.equal((await usage('gold/g1')).reservedBytes, 0);
    assert.equal(await code(w.polly.releaseClaim(mesos, c.id)), 'NOT_FOUND');
  });

  it('create with a capacity claim takes its pool and reservation in one transaction; the claim is gone', async () => {
    const c = await w.polly.acceptOffer(mesos, capacityOfferId('gold/g2'), { sizeBytes: 2 * GiB });
    assert.equal(await code(w.polly.createVolume(mesos, { service: 'gold', name: 'too-big', sizeBytes: 3 * GiB, claim: c.id })), 'OUT_OF_RANGE');
    assert.equal(await code(w.polly.createVolume(k8s, { service: 'gold', name: 'thief', sizeBytes: GiB, claim: c.id })), 'NOT_FOUND', 'only the owner');
    assert.equal(await code(w.polly.createVolume(mesos, { service: 'gold', name: 'wrong-type', type: 'hdd', sizeBytes: GiB, claim: c.id })), 'INVALID_ARGUMENT');
    const { volume } = await w.polly.createVolume(mesos, { service: 'gold', name: 'claimed', sizeBytes: GiB + 512 * MiB, claim: c.id });
    assert.equal(volume.pool, 'gold/g2');
    assert.equal(volume.status, 'available');
    const u = await usage('gold/g2');
    assert.equal(u.reservedBytes, 0, 'the unused part of the claim is given back');
    assert.equal(u.provisionedBytes, GiB + 512 * MiB);
    assert.equal((await w.store.get<ServiceUsage>(keys.serviceUsage('gold')))!.value.bytes, GiB + 512 * MiB);
    assert.deepEqual(await w.polly.listClaims(ADMIN), []);
    assert.equal(await code(w.polly.createVolume(mesos, { service: 'gold', name: 'again', sizeBytes: GiB, claim: c.id })), 'NOT_FOUND', 'a claim is used once');
  });

  it('create with a claim and no size takes the claim size; an expired claim is refused', async () => {
    const c = await w.polly.acceptOffer(mesos, capacityOfferId('gold/g1'), { sizeBytes: 2 * GiB, ttlSeconds: 5 });
    const { volume } = await w.polly.createVolume(mesos, { service: 'gold', name: 'sized-by-claim', claim: c.id });
    assert.equal(volume.sizeBytes, 2 * GiB);
    const d = await w.polly.acceptOffer(mesos, capacityOfferId('gold/g1'), { sizeBytes: GiB, ttlSeconds: 5 });
    w.clock.t += 5_000;
    assert.equal(await code(w.polly.createVolume(mesos, { service: 'gold', name: 'late', claim: d.id })), 'FAILED_PRECONDITION');
  });

  it('volume offers: available, unattached, unclaimed volumes offered to the scheduler or made by it; one live claim; attach consumes it', async () => {
    const { volume: v } = await w.polly.createVolume(ADMIN, { service: 'gold', name: 'shared', sizeBytes: GiB, schedulers: ['mesos'] });
    const own = (await w.polly.createVolume(k8s, { service: 'gold', name: 'k8s-own', sizeBytes: GiB })).volume;
    const forMesos = (await w.polly.listOffers(mesos)).filter((o) => o.kind === 'volume');
    assert.deepEqual(forMesos.map((o) => o.kind === 'volume' && o.volumeId), [v.id]);
    assert.deepEqual((await w.polly.listOffers(k8s)).filter((o) => o.kind === 'volume').map((o) => o.kind === 'volume' && o.volumeId), [own.id]);

    const offerId = volumeOfferId(v.id);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => w.polly.acceptOffer(mesos, offerId)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'at most one live claim');
    const claim = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Claim>).value;
    assert.equal(claim.kind, 'volume');
    assert.equal(claim.volumeId, v.id);
    assert.ok((await w.polly.listOffers(mesos)).every((o) => o.id !== offerId), 'a claimed volume is not offered');

    // A live claim blocks attaches that do not present it; the owner's attach with it consumes it.
    assert.equal(await code(w.polly.attachVolume(ADMIN, v.id, { nodeId: 'n1' })), 'FAILED_PRECONDITION');
    assert.equal(await code(w.polly.attachVolume(mesos, v.id, { nodeId: 'n1', claim: 'clm-01aaaaaaaaaaaaaaaaaaaaaaaa' })), 'NOT_FOUND');
    const attached = await w.polly.attachVolume(mesos, v.id, { nodeId: 'n1', claim: claim.id });
    assert.equal(attached.status, 'attached');
    assert.equal(attached.claim, undefined);
    assert.deepEqual(await w.polly.listClaims(ADMIN), []);
    const again = await w.polly.attachVolume(mesos, v.id, { nodeId: 'n1', claim: claim.id });
    assert.equal(again.status, 'attached', 'a retried attach is the same attach');
  });

  it('an expired volume claim frees the volume: offered again, claimable, cleared by expireClaims', async () => {
    const { volume: v } = await w.polly.createVolume(mesos, { service: 'gold', name: 'mine', sizeBytes: GiB });
    const first = await w.polly.acceptOffer(mesos, volumeOfferId(v.id), { ttlSeconds: 10 });
    assert.equal(await code(w.polly.acceptOffer(mesos, volumeOfferId(v.id))), 'CONFLICT');
    w.clock.t += 10_000;
    assert.ok((await w.polly.listOffers(mesos)).some((o) => o.id === volumeOfferId(v.id)));
    assert.deepEqual((await w.polly.expireClaims()).released, [first.id]);
    assert.equal((await w.polly.getVolume(ADMIN, v.id)).claim, undefined);
    await w.polly.acceptOffer(mesos, volumeOfferId(v.id));
  });

  it('decline hides an offer from that scheduler for the refuse period only', async () => {
    const offerId = capacityOfferId('gold/g1');
    await w.polly.declineOffer(mesos, offerId, { refuseSeconds: 30 });
    assert.ok(!(await w.polly.listOffers(mesos)).some((o) => o.id === offerId));
    assert.ok((await w.polly.listOffers(k8s)).some((o) => o.id === offerId), 'other schedulers still get it');
    w.clock.t += 29_999;
    assert.ok(!(await w.polly.listOffers(mesos)).some((o) => o.id === offerId));
    w.clock.t += 1;
    assert.ok((await w.polly.listOffers(mesos)).some((o) => o.id === offerId));
    assert.equal((await w.polly.expireClaims()).declinesExpired, 1);
    assert.equal(await code(w.polly.declineOffer(mesos, offerId, { refuseSeconds: 0 })), 'INVALID_ARGUMENT');
    assert.equal(await code(w.polly.declineOffer(k8s, capacityOfferId('bronze/b1'))), 'NOT_FOUND');
  });

  it('admins list the offers of a named scheduler; schedulers only their own', async () => {
    const { volume: v } = await w.polly.createVolume(ADMIN, { service: 'gold', name: 'for-k8s', sizeBytes: GiB, schedulers: ['k8s'] });
    assert.ok((await w.polly.listOffers(ADMIN, { scheduler: 'k8s' })).some((o) => o.kind === 'volume' && o.volumeId === v.id));
    assert.ok(!(await w.polly.listOffers(ADMIN, { scheduler: 'mesos' })).some((o) => o.kind === 'volume'));
    assert.equal(await code(w.polly.listOffers(mesos, { scheduler: 'k8s' })), 'FORBIDDEN');
  });

  it('the start-up recount keeps capacity claims reserved', async () => {
    await w.polly.acceptOffer(mesos, capacityOfferId('gold/g1'), { sizeBytes: 3 * GiB });
    await w.polly.createVolume(mesos, { service: 'gold', name: 'plain', sizeBytes: GiB, zones: ['a'] });
    const report = await w.polly.reconcile({ intentAgeMs: 0, quiescent: true, idempotencyTtlMs: 1000 });
    assert.deepEqual(report.usageFixed, []);
    assert.equal((await usage('gold/g1')).reservedBytes, 3 * GiB);
    assert.equal((await w.store.get<ServiceUsage>(keys.serviceUsage('gold')))!.value.bytes, 4 * GiB);
  });
});
