import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ChangeBus, NotifyingStore } from './changes.js';
import { keys } from './keys.js';
import { ADMIN, type Caller, type Volume } from './model.js';
import { OfferIndex } from './offer-index.js';
import { computeOffersFor } from './offers.js';
import { Polly } from './polly.js';
import { openGoldWorld, type GoldWorld } from './testing/gold-world.js';

const mesos: Caller = { kind: 'scheduler', name: 'mesos', services: '*' };
const k8s: Caller = { kind: 'scheduler', name: 'k8s', services: ['gold'] };

function volume(id: string, over: Partial<Volume> = {}): Volume {
  return {
    id, name: id, service: 'gold', pool: 'gold/g1', backendId: id, sizeBytes: 1024, iops: 0, labels: {}, fields: {}, parameters: {},
    status: 'available', schedulers: [], attachments: [], createdAt: 1, updatedAt: 1, ...over,
  };
}

describe('offer index', () => {
  let inner: SqliteStore;
  let bus: ChangeBus;
  let store: NotifyingStore;
  let index: OfferIndex;
  const put = (...vs: Volume[]) => store.txn({ compares: [], ops: vs.map((v) => ({ type: 'put' as const, key: keys.volume(v.id), value: v })) });
  const ids = (c: Caller) => index.visibleTo(c).map((v) => v.id);

  beforeEach(() => {
    inner = SqliteStore.open(':memory:');
    bus = new ChangeBus();
    store = new NotifyingStore(inner, bus);
    index = new OfferIndex(store, bus);
  });
  afterEach(async () => {
    index.close();
    await inner.close();
  });

  it('holds only offerable volumes, and each scheduler sees the ones offered to it or made by it, in services it may use', async () => {
    await put(
      volume('vol-05', { schedulers: ['mesos'] }),
      volume('vol-01', { schedulers: ['mesos', 'k8s'] }),
      volume('vol-02', { createdBy: 'k8s' }),
      volume('vol-03', { schedulers: ['mesos'], status: 'creating' }),
      volume('vol-04', { schedulers: ['mesos'], attachments: [{ nodeId: 'n1', accessMode: 'rwo', readOnly: false, attachedAt: 1 }] }),
      volume('vol-06', { schedulers: ['k8s'], service: 'silver' }),
      volume('vol-07'),
    );
    await index.current();
    assert.equal(index.size, 5);
    assert.deepEqual(ids(mesos), ['vol-01', 'vol-05']);
    assert.deepEqual(ids(k8s), ['vol-01', 'vol-02'], 'silver is not among k8s services');
    assert.deepEqual(ids(ADMIN), ['vol-01', 'vol-02', 'vol-05', 'vol-06', 'vol-07']);
    assert.deepEqual(ids({ kind: 'scheduler', name: 'nomad', services: '*' }), []);
  });

  it('follows writes by reading only the volumes that changed', async () => {
    await put(...Array.from({ length: 50 }, (_, i) => volume(`vol-${String(i).padStart(2, '0')}`)));
    await index.current();
    const afterBuild = index.reads;
    assert.equal(afterBuild, 50);

    await put(volume('vol-07', { schedulers: ['mesos'] })); // offered
    await put(volume('vol-08', { schedulers: ['mesos'], attachments: [{ nodeId: 'n', accessMode: 'rwo', readOnly: false, attachedAt: 2 }] }));
    await store.txn({ compares: [], ops: [{ type: 'delete', key: keys.volume('vol-09') }] });
    await index.current();
    assert.equal(index.reads - afterBuild, 3, 'three keys changed, three records read');
    assert.deepEqual(ids(mesos), ['vol-07']);
    assert.equal(index.size, 48);

    await put(volume('vol-07', { schedulers: [] })); // revoked
    await index.current();
    assert.deepEqual(ids(mesos), []);
    await index.current();
    assert.equal(index.reads - afterBuild, 4, 'nothing changed, nothing read');
  });

  it('follows writes it only hears about (another replica) and rebuilds after a gap', async () => {
    await put(volume('vol-01', { schedulers: ['mesos'] }));
    await index.current();
    // Another replica's write: the inner store changes, the catalog watch reports the key.
    await inner.txn({ compares: [], ops: [{ type: 'put', key: keys.volume('vol-02'), value: volume('vol-02', { schedulers: ['mesos'] }) }] });
    assert.deepEqual((await index.current(), ids(mesos)), ['vol-01'], 'unheard writes are not seen');
    bus.emit({ keys: [keys.volume('vol-02')] });
    await index.current();
    assert.deepEqual(ids(mesos), ['vol-01', 'vol-02']);
    // A watch that started over may have missed anything: the whole index is read again.
    await inner.txn({ compares: [], ops: [{ type: 'delete', key: keys.volume('vol-01') }] });
    bus.emit({ keys: [''] });
    const before = index.reads;
    await index.current();
    assert.deepEqual(ids(mesos), ['vol-02']);
    assert.equal(index.reads - before, 1);
  });

  it('a write made while the index is built is not lost', async () => {
    await put(...Array.from({ length: 2500 }, (_, i) => volume(`vol-${String(i).padStart(4, '0')}`)));
    const building = index.current();
    await put(volume('vol-0001', { schedulers: ['mesos'] }), volume('vol-2499', { schedulers: ['mesos'] }));
    await building;
    await index.current();
    assert.deepEqual(ids(mesos), ['vol-0001', 'vol-2499']);
  });
});

describe('offers from the index', () => {
  let store: SqliteStore;
  let polly: Polly;
  let world: GoldWorld;
  beforeEach(async () => {
    world = await openGoldWorld('polly-offer-index-');
    ({ store, polly } = world);
  });
  afterEach(() => world.close());

  it('are the offers a walk over every volume finds, through creates, offers, claims, attaches and deletes', async () => {
    const audiences: Caller[] = [ADMIN, mesos, k8s];
    const same = async (what: string) => {
      const indexed = await computeOffersFor(polly.ctx, audiences);
      const walked = await computeOffersFor({ ...polly.ctx, offerIndex: undefined }, audiences);
      assert.deepEqual(indexed, walked, what);
      return indexed;
    };
    await same('empty');
    const made: string[] = [];
    for (let i = 0; i < 6; i++) made.push((await polly.createVolume(i % 2 ? mesos : k8s, { service: 'gold', name: `v${i}`, sizeBytes: 1024 })).volume.id);
    let sets = await same('after creates');
    assert.equal(sets[1]!.offers.filter((o) => o.kind === 'volume').length, 3, 'mesos sees the three it made');
    await polly.offerVolume(ADMIN, made[0]!, ['mesos']);
    await polly.attachVolume(ADMIN, made[1]!, { nodeId: 'n1' });
    await polly.deleteVolume(ADMIN, made[3]!);
    sets = await same('after offer, attach, delete');
    assert.deepEqual(sets[1]!.offers.filter((o) => o.kind === 'volume').map((o) => (o as { volumeId: string }).volumeId), [made[0], made[5]]);
    const offer = sets[1]!.offers.find((o) => o.kind === 'volume')!;
    await polly.acceptOffer(mesos, offer.id, {});
    sets = await same('after a volume claim');
    assert.ok(sets[1]!.wakeAt !== undefined, 'the claim wakes the feed when it ends');
  });
});
