import { ChangeBus, NotifyingStore } from '../src/core/changes.js';
import { DEFAULT_CLAIM_SETTINGS, type CoreContext } from '../src/core/context.js';
import { newId } from '../src/core/ids.js';
import { keys } from '../src/core/keys.js';
import { ServiceLedger } from '../src/core/ledger.js';
import type { Caller, ServiceSpec, Volume } from '../src/core/model.js';
import { OfferFeed } from '../src/core/offer-feed.js';
import { OfferIndex } from '../src/core/offer-index.js';
import { computeOffers } from '../src/core/offers.js';
import { Placement } from '../src/core/placement/placement.js';
import { createPlacementRegistry } from '../src/core/placement/registry.js';
import { systemClock } from '../src/core/ports/clock.js';
import { silentLogger } from '../src/core/ports/logger.js';
import { GiB, TiB } from '../src/core/units.js';
import { loadavg } from 'node:os';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { percentile, record } from './results.js';

/**
 * Offers computed per second with 10,000 pools (10 services × 1,000) and 100 schedulers, and the
 * cost of one offer-feed round (recompute + diff) with all 100 schedulers watching.
 */
const SERVICES = 10;
const POOLS_PER_SERVICE = 1000;
const SCHEDULERS = 100;
const VOLUMES = 2000;
const ROUNDS = 10;

const specs: ServiceSpec[] = Array.from({ length: SERVICES }, (_, s) => ({
  name: `svc${s}`, driver: 'dir', defaultSizeBytes: GiB, quota: s % 2 === 0 ? { maxBytes: 5000 * TiB } : {}, driverConfig: {},
  pools: Array.from({ length: POOLS_PER_SERVICE }, (_, p) => ({
    name: `p${p}`, capacityBytes: 10 * TiB, overcommit: 1, zone: `zone-${p % 4}`, types: p % 2 === 0 ? ['gold'] : ['silver'],
    labels: { rack: `r${p % 20}` }, maxIops: 0, params: {},
  })),
}));

const store = SqliteStore.open(':memory:');
const changes = new ChangeBus();
const notifying = new NotifyingStore(store, changes);
const ledgers = new Map(specs.map((s) => [s.name, new ServiceLedger(s, notifying)]));
for (const ledger of ledgers.values()) {
  ledger.pools.forEach((p, i) => {
    p.totalBytes = 10 * TiB;
    // Every 10th pool is full, so it is not offered.
    const provisioned = i % 10 === 0 ? 10 * TiB : (i % 97) * 50 * GiB;
    p.setUsage({ id: p.id, service: p.service, pool: p.spec.name, provisionedBytes: provisioned, reservedBytes: (i % 7) * GiB, volumes: i % 97 }, 1);
  });
}
const walking: CoreContext = {
  store: notifying, services: new Map(specs.map((s) => [s.name, s])), drivers: new Map(), ledgers,
  placement: new Placement(createPlacementRegistry(), { filters: ['service', 'capacity'], scorers: {}, minFeasiblePools: 100, feasiblePercent: 5 }),
  clock: systemClock, logger: silentLogger, changes, claims: DEFAULT_CLAIM_SETTINGS,
};
// As the server runs: volume offers from the offer index (D13), kept current by the change bus.
const index = new OfferIndex(notifying, changes);
const ctx: CoreContext = { ...walking, offerIndex: index };

const schedulers: Caller[] = Array.from({ length: SCHEDULERS }, (_, i) => ({
  kind: 'scheduler', name: `sched${i}`,
  // A quarter may use every service; the others three services each.
  services: i % 4 === 0 ? '*' : [0, 1, 2].map((k) => `svc${(i + k * 3) % SERVICES}`),
}));

// Volumes: each offered to two schedulers; a tenth of them attached (never offered).
const now = Date.now();
for (let i = 0; i < VOLUMES; i += 500) {
  await store.txn({
    compares: [],
    ops: Array.from({ length: Math.min(500, VOLUMES - i) }, (_, k) => {
      const n = i + k;
      const id = newId('vol');
      const v: Volume = {
        id, name: `v${n}`, service: `svc${n % SERVICES}`, pool: `svc${n % SERVICES}/p${n % POOLS_PER_SERVICE}`, backendId: id, sizeBytes: GiB, iops: 0,
        labels: {}, fields: {}, parameters: {}, status: n % 10 === 0 ? 'attached' : 'available',
        schedulers: [`sched${n % SCHEDULERS}`, `sched${(n * 7) % SCHEDULERS}`], attachments: [], createdAt: now, updatedAt: now,
      };
      return { type: 'put' as const, key: keys.volume(id), value: v };
    }),
  });
}

/**
 * Full rounds (every scheduler's offers once per round) after a warm-up. Before each round one
 * volume is written (offered to one more scheduler), so the index has a change to follow.
 */
async function rounds(c: CoreContext): Promise<{ offers: number; seconds: number; roundMs: number[] }> {
  for (const s of schedulers.slice(0, 10)) await computeOffers(c, s);
  const roundMs: number[] = [];
  let offers = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) {
    const first = (await store.list<Volume>(keys.volumes, { limit: 1 })).records[0]!;
    await notifying.txn({ compares: [], ops: [{ type: 'put', key: first.key, value: { ...first.value, schedulers: [...first.value.schedulers, `sched${r}`] } }] });
    const t = process.hrtime.bigint();
    for (const s of schedulers) offers += (await computeOffers(c, s)).offers.length;
    roundMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  roundMs.sort((a, b) => a - b);
  return { offers, seconds: Number(process.hrtime.bigint() - t0) / 1e9, roundMs };
}

const walked = await rounds(walking);
const readsBefore = index.reads;
const { offers, seconds, roundMs } = await rounds(ctx);
const indexReads = index.reads - readsBefore;

// The feed: all 100 schedulers watching; one capacity change, then one refresh round.
const feed = new OfferFeed(ctx, { debounceMs: 1_000_000, resyncMs: 1_000_000 });
const subs = await Promise.all(schedulers.map((s) => feed.subscribe(s, undefined, () => undefined)));
const feedMs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const pool = ledgers.get(`svc${r % SERVICES}`)!.pools[1 + r]!;
  pool.reservedBytes += GiB;
  const t = process.hrtime.bigint();
  await feed.refresh();
  feedMs.push(Number(process.hrtime.bigint() - t) / 1e6);
}
for (const s of subs) s.unsubscribe();
feed.close();
index.close();
feedMs.sort((a, b) => a - b);
await store.close();

const ms = (v: number) => `${v.toFixed(0)} ms`;
record('Offers, 10,000 pools and 100 schedulers', [
  `${SERVICES} services × ${POOLS_PER_SERVICE} pools (a tenth full), ${VOLUMES} volumes each offered to 2 schedulers; 25 schedulers use every service, 75 use 3`,
  `${offers} offers in ${seconds.toFixed(2)} s over ${ROUNDS} rounds of all 100 schedulers = ${Math.round(offers / seconds).toLocaleString('en-US')} offers/s (${Math.round((ROUNDS * SCHEDULERS) / seconds)} scheduler listings/s)`,
  `one round of 100 schedulers: p50 ${ms(percentile(roundMs, 50))}, max ${ms(roundMs[roundMs.length - 1]!)}; volume records read over all rounds (index build + changes): ${indexReads.toLocaleString('en-US')}`,
  `without the offer index (a walk over every volume per listing, as before D13): ${Math.round(walked.offers / walked.seconds).toLocaleString('en-US')} offers/s, one round p50 ${ms(percentile(walked.roundMs, 50))}, max ${ms(walked.roundMs[walked.roundMs.length - 1]!)}`,
  `offer feed with 100 watchers, one change then a refresh (recompute + diff): p50 ${ms(percentile(feedMs, 50))}, max ${ms(feedMs[feedMs.length - 1]!)}`,
  `machine load average (1 min) at the end: ${loadavg()[0]!.toFixed(1)}`,
]);
