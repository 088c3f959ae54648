import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { PollyError } from './errors.js';
import { keys } from './keys.js';
import { ServiceLedger, type LedgerView, type Planner } from './ledger.js';
import type { ServiceSpec } from './model.js';
import type { StagedTxn, Store, TxnRequest, TxnResult } from './ports/store.js';
import { GiB } from './units.js';

const spec: ServiceSpec = {
  name: 's', driver: 'dir', defaultSizeBytes: GiB, quota: {}, driverConfig: {},
  pools: [{ name: 'p', capacityBytes: 100 * GiB, overcommit: 1, types: [], labels: {}, maxIops: 0, params: {} }],
};

let seq = 0;
const reserve = (bytes: number): Planner<string> => {
  const id = `w${++seq}`;
  return (view: LedgerView) => ({
    ops: [{ type: 'put', key: `work/${id}`, value: bytes }, { type: 'put', key: `work-name/${id}`, value: id }],
    compares: [{ key: `work-name/${id}`, revision: 0 }],
    pools: [{ pool: view.pools[0]!, delta: { reservedBytes: bytes, volumes: 1 } }],
    service: { volumes: 1, bytes },
    result: () => id,
  });
};

/** A real store that declares a transaction limit and records every transaction's size. */
function limited(inner: Store, maxTxnOps: number, sizes: number[]): Store {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'maxTxnOps') return maxTxnOps;
      if (prop === 'txn' || prop === 'txnStaged') {
        return (r: TxnRequest): Promise<TxnResult | StagedTxn> => {
          sizes.push(Math.max(r.compares.length, r.ops.length));
          return prop === 'txn' ? target.txn(r) : target.txnStaged!(r);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Two ledgers of one service on one store, as two replicas have them, both loaded. */
async function twoWriters(store: Store, second: Store = store): Promise<[ServiceLedger, ServiceLedger]> {
  const a = new ServiceLedger(spec, store);
  const b = new ServiceLedger(spec, second);
  await a.load();
  await b.load();
  return [a, b];
}

describe('ServiceLedger with other writers (real SQLite store)', () => {
  let dir: string;
  const stores: SqliteStore[] = [];
  const open = () => {
    const s = SqliteStore.open(path.join(dir, `l-${stores.length}.db`));
    stores.push(s);
    return s;
  };
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'polly-ledger-replicas-'));
  });
  after(async () => {
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('observe: a newer usage record from another writer replaces the cached one; older ones are ignored', async () => {
    const store = open();
    const [a, b] = await twoWriters(store);
    await a.submit(reserve(10 * GiB));
    const poolKey = keys.pool('s/p');
    const pool = (await store.get(poolKey))!;
    const usage = (await store.get(keys.serviceUsage('s')))!;
    assert.ok(b.owns(poolKey) && b.owns(keys.serviceUsage('s')) && !b.owns(keys.pool('other/p')));
    b.observe(poolKey, pool.value, pool.revision);
    b.observe(keys.serviceUsage('s'), usage.value, usage.revision);
    assert.equal(b.pools[0]!.reservedBytes, 10 * GiB);
    assert.equal(b.pools[0]!.revision, pool.revision);
    assert.deepEqual(b.usage, { service: 's', volumes: 1, bytes: 10 * GiB });
    // An older event changes nothing.
    b.observe(poolKey, { ...(pool.value as object), reservedBytes: 0 }, pool.revision - 1);
    assert.equal(b.pools[0]!.reservedBytes, 10 * GiB);
    // B's next write goes through on the first try: its view was current.
    const before = await store.get(poolKey);
    await b.submit(reserve(GiB));
    assert.equal((await store.get(poolKey))!.revision, before!.revision + 1);
    assert.equal(b.pools[0]!.reservedBytes, 11 * GiB);
  });

  it('an older event arriving while a batch is queued does not undo the batch', async () => {
    const store = open();
    const a = new ServiceLedger(spec, store);
    await a.load();
    const pending = a.submit(reserve(GiB));
    // Queued but not yet written: an event must not replace the view under the batch.
    a.observe(keys.pool('s/p'), { id: 's/p', service: 's', pool: 'p', provisionedBytes: 0, reservedBytes: 0, volumes: 0 }, 1);
    await pending;
    // The event (revision 1) was older than the batch's own write: the batch's view stays.
    assert.equal(a.pools[0]!.reservedBytes, GiB);
    assert.equal((await store.get(keys.pool('s/p')))!.revision, a.pools[0]!.revision);
  });

  it('resync re-reads the usage records a watch may have missed', async () => {
    const store = open();
    const [a, b] = await twoWriters(store);
    await a.submit(reserve(7 * GiB));
    assert.equal(b.pools[0]!.reservedBytes, 0);
    b.resync();
    const deadline = Date.now() + 2000;
    while (b.pools[0]!.reservedBytes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(b.pools[0]!.reservedBytes, 7 * GiB);
    assert.deepEqual(b.usage, { service: 's', volumes: 1, bytes: 7 * GiB });
  });

  it('a store failure while re-reading after a failed guard fails the work, not the process', async () => {
    const store = open();
    let readsFail = false;
    const flaky = new Proxy(store as Store, {
      get(target, prop) {
        if (prop === 'getMany' && readsFail) return () => Promise.reject(new PollyError('UNAVAILABLE', 'store unavailable'));
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const [a, b] = await twoWriters(store, flaky);
    await a.submit(reserve(GiB));
    readsFail = true;
    // B's view is behind: its guard fails, the re-read fails, the work is rejected.
    await assert.rejects(b.submit(reserve(GiB)), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE');
    readsFail = false;
    await b.submit(reserve(GiB));
    assert.equal((await store.get<{ reservedBytes: number }>(keys.pool('s/p')))!.value.reservedBytes, 2 * GiB);
  });

  it('keeps every transaction within the store\'s maxTxnOps, usage records included', async () => {
    const sizes: number[] = [];
    const store = limited(open(), 9, sizes);
    const ledger = new ServiceLedger(spec, store);
    await ledger.load();
    const ids = await Promise.all(Array.from({ length: 40 }, () => ledger.submit(reserve(GiB))));
    assert.equal(new Set(ids).size, 40);
    assert.ok(sizes.every((n) => n <= 9), `transaction sizes ${sizes.join(',')}`);
    assert.ok(sizes.length >= 40 / 3, 'split into several batches');
    assert.equal(ledger.pools[0]!.reservedBytes, 40 * GiB);
    assert.equal(await store.count('work/'), 40);
  });
});
