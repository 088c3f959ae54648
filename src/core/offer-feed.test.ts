import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Caller } from './model.js';
import type { OfferEvent } from './offer-feed.js';
import { capacityOfferId, volumeOfferId } from './offers.js';
import { Polly } from './polly.js';
import { openGoldWorld, type GoldWorld } from './testing/gold-world.js';
import { GiB } from './units.js';

const mesos: Caller = { kind: 'scheduler', name: 'mesos', services: '*' };

let store: SqliteStore;
let polly: Polly;

/** Collects a subscriber's events and lets a test wait for the next ones. */
class Inbox {
  readonly events: OfferEvent[] = [];
  private waiters: (() => void)[] = [];
  push = (e: OfferEvent): void => {
    this.events.push(e);
    for (const w of this.waiters.splice(0)) w();
  };
  async until(pred: (events: OfferEvent[]) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!pred(this.events)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
}

describe('offer feed', () => {
  let world: GoldWorld;
  beforeEach(async () => {
    world = await openGoldWorld('polly-feed-', { offerFeed: { debounceMs: 5, logSize: 3 } });
    ({ store, polly } = world);
  });
  afterEach(() => world.close());

  it('starts with a snapshot, then streams changed / added / rescinded events driven by writes', async () => {
    const inbox = new Inbox();
    const sub = await polly.offerFeed.subscribe(mesos, undefined, inbox.push);
    assert.equal(sub.replay.length, 1);
    const snap = sub.replay[0]!;
    assert.equal(snap.type, 'snapshot');
    assert.deepEqual(snap.type === 'snapshot' && snap.offers.map((o) => o.id), [capacityOfferId('gold/g1')]);

    await polly.acceptOffer(mesos, capacityOfferId('gold/g1'), { sizeBytes: 2 * GiB });
    await inbox.until((es) => es.some((e) => e.type === 'changed'), 'a changed event');
    const changed = inbox.events.find((e) => e.type === 'changed')!;
    assert.equal(changed.type === 'changed' && changed.offer.kind === 'capacity' && changed.offer.freeBytes, 8 * GiB);

    const { volume } = await polly.createVolume(mesos, { service: 'gold', name: 'v1', sizeBytes: GiB });
    await inbox.until((es) => es.some((e) => e.type === 'added' && e.offer.id === volumeOfferId(volume.id)), 'the volume offer');

    await polly.declineOffer(mesos, volumeOfferId(volume.id), { refuseSeconds: 0.3 });
    await inbox.until((es) => es.some((e) => e.type === 'rescinded' && e.offerId === volumeOfferId(volume.id)), 'the declined offer rescinded');
    // The refuse period ends by itself: the offer comes back without any write.
    const before = inbox.events.length;
    await inbox.until((es) => es.slice(before).some((e) => e.type === 'added' && e.offer.id === volumeOfferId(volume.id)), 'the offer back after the refuse period');
    sub.unsubscribe();

    const ids = inbox.events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'event ids are unique');
  });

  it('resumes after a given event id without losing events; ids too old or foreign get a snapshot', async () => {
    const inbox = new Inbox();
    const sub = await polly.offerFeed.subscribe(mesos, undefined, inbox.push);
    const start = sub.replay[0]!.id;
    sub.unsubscribe();

    // While nobody listens, two changes happen.
    await polly.acceptOffer(mesos, capacityOfferId('gold/g1'), { sizeBytes: GiB });
    await new Promise((r) => setTimeout(r, 60));
    const { volume } = await polly.createVolume(mesos, { service: 'gold', name: 'v2', sizeBytes: GiB });
    await polly.offerFeed.refresh();

    const resumed = await polly.offerFeed.subscribe(mesos, start, () => undefined);
    const types = resumed.replay.map((e) => e.type);
    assert.ok(types.every((t) => t !== 'snapshot'), `replay, not a snapshot: ${types.join(',')}`);
    assert.ok(resumed.replay.some((e) => e.type === 'added' && e.offer.id === volumeOfferId(volume.id)));
    assert.ok(resumed.replay.some((e) => e.type === 'changed' && e.offer.id === capacityOfferId('gold/g1')));
    const last = resumed.replay[resumed.replay.length - 1]!.id;
    resumed.unsubscribe();

    const upToDate = await polly.offerFeed.subscribe(mesos, last, () => undefined);
    assert.deepEqual(upToDate.replay, [], 'nothing missed since the last event');
    upToDate.unsubscribe();

    // More changes than the log keeps (3): resuming from the start gets a snapshot instead.
    for (let i = 0; i < 4; i++) await polly.createVolume(mesos, { service: 'gold', name: `more-${i}`, sizeBytes: GiB });
    await polly.offerFeed.refresh();
    const tooOld = await polly.offerFeed.subscribe(mesos, start, () => undefined);
    assert.deepEqual(tooOld.replay.map((e) => e.type), ['snapshot']);
    tooOld.unsubscribe();
    for (const foreign of ['nonsense', 'x.1', `${start}99999`]) {
      const s = await polly.offerFeed.subscribe(mesos, foreign, () => undefined);
      assert.deepEqual(s.replay.map((e) => e.type), ['snapshot'], foreign);
      s.unsubscribe();
    }
  });
});
