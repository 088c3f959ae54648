import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { PollyError } from './errors.js';
import { keys } from './keys.js';
import { ServiceLedger, StaleWriteError, type LedgerPlan, type LedgerView, type Planner } from './ledger.js';
import type { PoolUsage, ServiceSpec, ServiceUsage } from './model.js';
import type { Store, TxnRequest, TxnResult } from './ports/store.js';
import { availableBytes } from './placement/types.js';
import { GiB } from './units.js';

function spec(name: string, poolBytes: number, quota: ServiceSpec['quota'] = {}): ServiceSpec {
  return {
    name, driver: 'dir', defaultSizeBytes: GiB, quota, driverConfig: {},
    pools: [{ name: 'p', capacityBytes: poolBytes, overcommit: 1, types: [], labels: {}, maxIops: 0, params: {} }],
  };
}

let seq = 0;

/** Reserves `bytes` in the first pool that has room, honouring the quota; like a create's planner. */
function reserve(bytes: number): Planner<string> {
  const id = `w${++seq}`;
  return (view: LedgerView): LedgerPlan<string> => {
    const q = view.spec.quota;
    if (q.maxVolumes !== undefined && view.usage.volumes + 1 > q.maxVolumes) throw new PollyError('QUOTA_EXCEEDED', 'quota');
    const pool = view.pools.find((p) => availableBytes(p) >= bytes);
    if (!pool) throw new PollyError('INSUFFICIENT_CAPACITY', `no room for ${bytes}`);
    return {
      ops: [{ type: 'put', key: `work/${id}`, value: { bytes } }],
      pools: [{ pool, delta: { reservedBytes: bytes, volumes: 1 } }],
      service: { volumes: 1, bytes },
      result: () => id,
    };
  };
}

async function usageRecord(store: Store, service: string): Promise<{ pool: PoolUsage; service: ServiceUsage }> {
  const pool = await store.get<PoolUsage>(keys.pool(`${service}/p`));
  const svc = await store.get<ServiceUsage>(keys.serviceUsage(service));
  assert.ok(pool && svc, 'usage records written');
  return { pool: pool.value, service: svc.value };
}

function codes(results: PromiseSettledResult<unknown>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const k = r.status === 'fulfilled' ? 'ok' : r.reason instanceof PollyError ? r.reason.code : String(r.reason);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Delegates to a real store; can be told to fail the next transaction (fault injection only). */
class FlakyStore implements Store {
  readonly kind = 'flaky';
  failNext = false;
  txns = 0;
  readonly durability: (TxnRequest['durability'] | undefined)[] = [];
  constructor(private readonly inner: Store) {}
  get = <T>(k: string) => this.inner.get<T>(k);
  getMany = <T>(k: readonly string[]) => this.inner.getMany<T>(k);
  list = <T>(p: string, o?: Parameters<Store['list']>[1]) => this.inner.list<T>(p, o);
  count = (p: string) => this.inner.count(p);
  ready = () => this.inner.ready();
  erase = (p: string) => this.inner.erase(p);
  close = () => this.inner.close();
  async txn(r: TxnRequest): Promise<TxnResult> {
    this.txns++;
    this.durability.push(r.durability);
    if (this.failNext) {
      this.failNext = false;
      throw new PollyError('UNAVAILABLE', 'disk on fire');
    }
    return this.inner.txn(r);
  }
}

describe('ServiceLedger (real SQLite store)', () => {
  let dir: string;
  let n = 0;
  const stores: SqliteStore[] = [];
  const openStore = () => {
    const s = SqliteStore.open(path.join(dir, `ledger-${++n}.db`));
    stores.push(s);
    return s;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'polly-ledger-'));
  });
  after(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('500 concurrent reservations against a pool that fits 100: exactly 100, never an overcommit', async () => {
    const store = openStore();
    const ledger = new ServiceLedger(spec('s', 100 * GiB), store);
    await ledger.load();
    const results = await Promise.allSettled(Array.from({ length: 500 }, () => ledger.submit(reserve(GiB))));
    assert.deepEqual(codes(results), { ok: 100, INSUFFICIENT_CAPACITY: 400 });
    const rec = await usageRecord(store, 's');
    assert.equal(rec.pool.reservedBytes, 100 * GiB);
    assert.equal(rec.pool.volumes, 100);
    assert.deepEqual(rec.service, { service: 's', volumes: 100, bytes: 100 * GiB });
    assert.equal(await store.count('work/'), 100, 'only the accepted work was written');
    // The running view is what the store holds.
    const fresh = new ServiceLedger(spec('s', 100 * GiB), store);
    await fresh.load();
    assert.equal(fresh.pools[0]!.reservedBytes, ledger.pools[0]!.reservedBytes);
    assert.equal(fresh.pools[0]!.revision, ledger.pools[0]!.revision);
  });

  it('reservations arriving in waits between batches still never overcommit', async () => {
    const store = openStore();
    const ledger = new ServiceLedger(spec('s', 10 * GiB), store);
    await ledger.load();
    const all: Promise<PromiseSettledResult<string>[]>[] = [];
    for (let wave = 0; wave < 5; wave++) {
      all.push(Promise.allSettled(Array.from({ length: 7 }, () => ledger.submit(reserve(GiB)))));
      await new Promise((r) => setImmediate(r));
    }
    const results = (await Promise.all(all)).flat();
    assert.deepEqual(codes(results), { ok: 10, INSUFFICIENT_CAPACITY: 25 });
    assert.equal((await usageRecord(store, 's')).pool.reservedBytes, 10 * GiB);
  });

  it('a write by a second replica makes the first re-read, and together they never overcommit', async () => {
    const store = openStore();
    const a = new ServiceLedger(spec('s', 20 * GiB), store);
    const b = new ServiceLedger(spec('s', 20 * GiB), store);
    await a.load();
    await b.load();
    // Sequential: A takes 15 GiB; B still believes the pool is empty.
    await a.submit(reserve(15 * GiB));
    assert.equal(b.pools[0]!.reservedBytes, 0, 'B has not seen A\'s write yet');
    await assert.rejects(b.submit(reserve(10 * GiB)), (e: unknown) => e instanceof PollyError && e.code === 'INSUFFICIENT_CAPACITY');
    assert.equal(b.pools[0]!.reservedBytes, 15 * GiB, 'B re-read the usage record');
    await b.submit(reserve(5 * GiB));
    assert.equal((await usageRecord(store, 's')).pool.reservedBytes, 20 * GiB);
    await assert.rejects(a.submit(reserve(GiB)), (e: unknown) => e instanceof PollyError && e.code === 'INSUFFICIENT_CAPACITY');
  });

  it('two replicas racing: the sum of what both granted fits the pool', async () => {
    const store = openStore();
    const a = new ServiceLedger(spec('s', 20 * GiB), store);
    const b = new ServiceLedger(spec('s', 20 * GiB), store);
    await a.load();
    await b.load();
    const work: Promise<string>[] = [];
    for (let i = 0; i < 60; i++) work.push((i % 2 === 0 ? a : b).submit(reserve(GiB)));
    const results = await Promise.allSettled(work);
    const c = codes(results);
    assert.equal(c['ok'], 20, JSON.stringify(c));
    assert.equal((c['INSUFFICIENT_CAPACITY'] ?? 0) + (c['UNAVAILABLE'] ?? 0), 40, JSON.stringify(c));
    const rec = await usageRecord(store, 's');
    assert.equal(rec.pool.reservedBytes, 20 * GiB);
    assert.equal(rec.pool.volumes, 20);
    assert.equal(await store.count('work/'), 20);
  });

  it('the service usage record guards quotas across replicas too', async () => {
    const store = openStore();
    const a = new ServiceLedger(spec('q', 100 * GiB, { maxVolumes: 5 }), store);
    const b = new ServiceLedger(spec('q', 100 * GiB, { maxVolumes: 5 }), store);
    await a.load();
    await b.load();
    const results = await Promise.allSettled([...Array.from({ length: 8 }, () => a.submit(reserve(GiB))), ...Array.from({ length: 8 }, () => b.submit(reserve(GiB)))]);
    assert.equal(codes(results)['ok'], 5);
    assert.equal((await usageRecord(store, 'q')).service.volumes, 5);
  });

  it('a planner that throws rejects only its own work', async () => {
    const store = openStore();
    const ledger = new ServiceLedger(spec('s', 10 * GiB), store);
    await ledger.load();
    const boom = new PollyError('INVALID_ARGUMENT', 'bad request of this one');
    const plain = new TypeError('a bug in this planner');
    const [first, second, third, fourth] = await Promise.allSettled([
      ledger.submit(reserve(GiB)),
      ledger.submit<string>(() => {
        throw boom;
      }),
      ledger.submit(reserve(2 * GiB)),
      ledger.submit<string>(() => {
        throw plain;
      }),
    ]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(third.status, 'fulfilled');
    assert.equal(second.status === 'rejected' && second.reason, boom);
    assert.equal(fourth.status === 'rejected' && fourth.reason, plain);
    assert.equal((await usageRecord(store, 's')).pool.reservedBytes, 3 * GiB);
  });

  it('work whose own compare fails gets StaleWriteError; the rest of its batch commits', async () => {
    const store = openStore();
    await store.txn({ compares: [], ops: [{ type: 'put', key: 'names/taken', value: 1 }] });
    const ledger = new ServiceLedger(spec('s', 10 * GiB), store);
    await ledger.load();
    const taken: Planner<string> = (view) => ({
      ...reserve(GiB)(view),
      compares: [{ key: 'names/taken', revision: 0 }],
      ops: [{ type: 'put', key: 'names/taken', value: 2 }],
    });
    const [ok1, stale, ok2] = await Promise.allSettled([ledger.submit(reserve(GiB)), ledger.submit(taken), ledger.submit(reserve(GiB))]);
    assert.equal(ok1.status, 'fulfilled');
    assert.equal(ok2.status, 'fulfilled');
    assert.ok(stale.status === 'rejected' && stale.reason instanceof StaleWriteError);
    assert.deepEqual((stale.reason as StaleWriteError).staleKeys, ['names/taken']);
    assert.equal((stale.reason as StaleWriteError).retryable, true);
    assert.equal((await store.get('names/taken'))!.value, 1, 'the stale work wrote nothing');
    assert.equal((await usageRecord(store, 's')).pool.reservedBytes, 2 * GiB, 'and reserved nothing');
    assert.equal(ledger.pools[0]!.reservedBytes, 2 * GiB);
  });

  it('a failing store rejects the batch and leaves the running view as it was', async () => {
    const sqlite = openStore();
    const store = new FlakyStore(sqlite);
    const ledger = new ServiceLedger(spec('s', 10 * GiB), store);
    await ledger.load();
    await ledger.submit(reserve(GiB));
    store.failNext = true;
    const results = await Promise.allSettled([ledger.submit(reserve(GiB)), ledger.submit(reserve(GiB))]);
    assert.deepEqual(codes(results), { UNAVAILABLE: 2 });
    assert.equal(ledger.pools[0]!.reservedBytes, GiB);
    assert.equal(ledger.usage.volumes, 1);
    await ledger.submit(reserve(9 * GiB));
    assert.equal((await usageRecord(sqlite, 's')).pool.reservedBytes, 10 * GiB);
  });

  it('defers a batch\'s durability only when every plan in it asks for that', async () => {
    const store = new FlakyStore(openStore());
    const ledger = new ServiceLedger(spec('s', 10 * GiB), store);
    await ledger.load();
    const deferred = (bytes: number): Planner<string> => (view) => ({ ...reserve(bytes)(view), durability: 'deferred' });
    await Promise.all([ledger.submit(deferred(GiB)), ledger.submit(deferred(GiB))]);
    await Promise.all([ledger.submit(deferred(GiB)), ledger.submit(reserve(GiB))]);
    assert.deepEqual(store.durability, ['deferred', undefined]);
    assert.equal((await usageRecord(store, 's')).pool.reservedBytes, 4 * GiB);
  });

  it('negative deltas (commit, release) and zone counts', async () => {
    const store = openStore();
    const zoned: ServiceSpec = { ...spec('z', 10 * GiB), pools: [{ ...spec('z', 10 * GiB).pools[0]!, zone: 'east' }] };
    const ledger = new ServiceLedger(zoned, store);
    await ledger.load();
    await ledger.submit(reserve(4 * GiB));
    assert.equal(ledger.zoneVolumes.get('east'), 1);
    const pool = ledger.pools[0]!;
    await ledger.submit(() => ({ pools: [{ pool, delta: { reservedBytes: -4 * GiB, provisionedBytes: 4 * GiB } }], result: () => undefined }));
    await ledger.submit(() => ({ pools: [{ pool, delta: { provisionedBytes: -4 * GiB, volumes: -1 } }], service: { volumes: -1, bytes: -4 * GiB }, result: () => undefined }));
    assert.equal(ledger.zoneVolumes.get('east'), 0);
    const rec = await usageRecord(store, 'z');
    assert.deepEqual([rec.pool.reservedBytes, rec.pool.provisionedBytes, rec.pool.volumes], [0, 0, 0]);
    assert.deepEqual(rec.service, { service: 'z', volumes: 0, bytes: 0 });
  });
});
