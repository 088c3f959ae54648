import { mayUseService, maySeeVolume } from './access.js';
import type { CoreContext } from './context.js';
import { PollyError, invalid } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Labels, Volume } from './model.js';
import { checkName } from './names.js';
import { availableBytes } from './placement/types.js';
import type { PoolState } from './pool-state.js';
import type { StoreRecord } from './ports/store.js';
import { isOfferable, type OfferableVolume } from './offer-index.js';

/** Free capacity of one pool offered to a scheduler. */
export interface CapacityOffer {
  readonly id: string;
  readonly kind: 'capacity';
  readonly service: string;
  /** Pool id (`<service>/<pool>`). */
  readonly pool: string;
  readonly zone?: string;
  readonly node?: string;
  readonly types: readonly string[];
  readonly labels: Labels;
  /** Bytes the pool can still give after provisioned volumes, creates in flight and claims. */
  readonly freeBytes: number;
  /** The largest volume a claim on this offer may reserve (free bytes, bounded by the service quota). */
  readonly maxVolumeBytes: number;
  readonly maxIops: number;
}

/** An existing volume offered to a scheduler: available, not attached, not claimed. */
export interface VolumeOffer {
  readonly id: string;
  readonly kind: 'volume';
  readonly service: string;
  readonly pool: string;
  readonly volumeId: string;
  readonly name: string;
  readonly sizeBytes: number;
  readonly type?: string;
  readonly zone?: string;
  readonly labels: Labels;
}

export type Offer = CapacityOffer | VolumeOffer;

export interface OfferSet {
  readonly offers: Offer[];
  /** When the set changes by itself (a decline's refuse period or a volume claim ends), if ever. */
  readonly wakeAt?: number;
}

// ---------------------------------------------------------------------------------------------
// offer ids

const OFFER_ID = /^ofr-[A-Za-z0-9_-]{4,600}$/;
const poolOfferIds = new Map<string, string>();

/** Offer ids are opaque and URL-safe; one id per pool or volume, stable while it is offered. */
export function capacityOfferId(poolId: string): string {
  let id = poolOfferIds.get(poolId);
  if (id === undefined) {
    id = `ofr-${Buffer.from(`c:${poolId}`).toString('base64url')}`;
    if (poolOfferIds.size < 1_000_000) poolOfferIds.set(poolId, id);
  }
  return id;
}

export const volumeOfferId = (volumeId: string): string => `ofr-${Buffer.from(`v:${volumeId}`).toString('base64url')}`;

export interface OfferTarget {
  readonly kind: 'capacity' | 'volume';
  /** Pool id or volume id. */
  readonly id: string;
}

/** The pool or volume an offer id stands for; ids Polly did not hand out are not found. */
export function decodeOfferId(offerId: string): OfferTarget {
  if (typeof offerId !== 'string' || !OFFER_ID.test(offerId)) throw offerNotFound(offerId);
  const text = Buffer.from(offerId.slice(4), 'base64url').toString();
  const kind = text.startsWith('c:') ? 'capacity' : text.startsWith('v:') ? 'volume' : undefined;
  const id = text.slice(2);
  // eslint-disable-next-line no-control-regex
  if (kind === undefined || id.length === 0 || id.length > 300 || /[\u0000-\u001f\u007f]/.test(id)) throw offerNotFound(offerId);
  return { kind, id };
}

export const offerNotFound = (offerId: string): PollyError =>
  new PollyError('NOT_FOUND', `offer ${JSON.stringify(String(offerId).slice(0, 80))} not found (it may have been taken, withdrawn or never existed)`, { kind: 'offer', id: String(offerId).slice(0, 80) });

// ---------------------------------------------------------------------------------------------
// listing

export interface OfferQuery {
  /** Admins only: list the offers a given scheduler would get. */
  readonly scheduler?: string;
}

/**
 * The identity offers are computed for. A scheduler gets its own offers; an admin gets offers
 * over every service, as itself or, with `scheduler`, as that scheduler (its service list is not
 * known to core, so every service counts).
 */
export function offerAudience(caller: Caller, query: OfferQuery = {}): Caller {
  if (query.scheduler === undefined) return caller;
  checkName('scheduler', query.scheduler);
  if (caller.kind !== 'admin') {
    if (query.scheduler === caller.name) return caller;
    throw new PollyError('FORBIDDEN', `${caller.name} may list only its own offers`, { scheduler: query.scheduler });
  }
  return { kind: 'scheduler', name: query.scheduler, services: '*' };
}

export async function listOffers(ctx: CoreContext, caller: Caller, query: OfferQuery = {}): Promise<Offer[]> {
  return (await computeOffers(ctx, offerAudience(caller, query))).offers;
}

/** Every offer for `audience` now, minus the ones it declined and whose refuse period runs. */
export async function computeOffers(ctx: CoreContext, audience: Caller): Promise<OfferSet> {
  return (await computeOffersFor(ctx, [audience]))[0]!;
}

/**
 * The offers of several audiences at once (the offer feed's round): capacity comes from the
 * ledgers' memory, volumes from the offer index (only those each audience may see; one walk over
 * every volume record when core runs without one), declines from one walk that serves them all.
 */
export async function computeOffersFor(ctx: CoreContext, audiences: readonly Caller[]): Promise<OfferSet[]> {
  const now = ctx.clock.now();
  const declines = await activeDeclines(ctx, new Set(audiences.map((a) => a.name)), now);
  const sets = audiences.map((audience) => {
    const declined = declines.get(audience.name) ?? new Map<string, number>();
    const set = { audience, declined, offers: [] as Offer[], wakeAt: undefined as number | undefined };
    for (const until of declined.values()) soonest(set, until, now);
    return set;
  });

  for (const set of sets) {
    for (const [name, ledger] of ctx.ledgers) {
      if (!mayUseService(set.audience, name)) continue;
      const quota = ledger.spec.quota;
      if (quota.maxVolumes !== undefined && ledger.usage.volumes >= quota.maxVolumes) continue;
      const quotaBytes = quota.maxBytes === undefined ? Number.MAX_SAFE_INTEGER : quota.maxBytes - ledger.usage.bytes;
      if (quotaBytes <= 0) continue;
      for (const pool of ledger.pools) {
        const free = availableBytes(pool);
        if (free <= 0) continue;
        const id = capacityOfferId(pool.id);
        if (set.declined.size > 0 && set.declined.has(id)) continue;
        set.offers.push(capacityOffer(id, pool, free, Math.min(free, quotaBytes)));
      }
    }
  }

  const consider = (set: (typeof sets)[number], v: OfferableVolume, claimed: boolean, id: () => string) => {
    if (claimed) {
      soonest(set, v.claim!.expiresAt, now);
      return;
    }
    const offerId = id();
    if (set.declined.size > 0 && set.declined.has(offerId)) return;
    set.offers.push(volumeOffer(offerId, v));
  };
  const isClaimed = (v: OfferableVolume) => v.claim !== undefined && v.claim.expiresAt > now;

  if (ctx.offerIndex) {
    // Only the volumes each audience may see, from the index (D13).
    await ctx.offerIndex.current();
    for (const set of sets) {
      for (const v of ctx.offerIndex.visibleTo(set.audience)) consider(set, v, isClaimed(v), () => volumeOfferId(v.id));
    }
  } else {
    let after: string | undefined;
    do {
      const page = await ctx.store.list<Volume>(keys.volumes, { limit: 1000, ...(after !== undefined ? { after } : {}) });
      for (const { value: v } of page.records) {
        if (!isOfferable(v)) continue;
        const claimed = isClaimed(v);
        let id: string | undefined;
        for (const set of sets) if (maySeeVolume(set.audience, v)) consider(set, v, claimed, () => (id ??= volumeOfferId(v.id)));
      }
      after = page.next;
    } while (after !== undefined);
  }
  return sets.map((s) => ({ offers: s.offers, ...(s.wakeAt !== undefined ? { wakeAt: s.wakeAt } : {}) }));
}

function soonest(set: { wakeAt: number | undefined }, t: number, now: number): void {
  if (t > now && (set.wakeAt === undefined || t < set.wakeAt)) set.wakeAt = t;
}

/** A flat literal (absent zone or node left undefined): listing builds thousands of these per call. */
function capacityOffer(id: string, pool: PoolState, freeBytes: number, maxVolumeBytes: number): CapacityOffer {
  const spec = pool.spec;
  return {
    id, kind: 'capacity', service: pool.service, pool: pool.id, zone: spec.zone, node: spec.node,
    types: spec.types, labels: spec.labels, freeBytes, maxVolumeBytes, maxIops: spec.maxIops,
  };
}

function volumeOffer(id: string, v: OfferableVolume): VolumeOffer {
  return {
    id, kind: 'volume', service: v.service, pool: v.pool, volumeId: v.id, name: v.name, sizeBytes: v.sizeBytes,
    ...(v.type !== undefined ? { type: v.type } : {}), ...(v.zone !== undefined ? { zone: v.zone } : {}), labels: v.labels,
  };
}

// ---------------------------------------------------------------------------------------------
// declines

export interface OfferDecline {
  readonly offerId: string;
  readonly scheduler: string;
  readonly until: number;
}

export const DEFAULT_REFUSE_SECONDS = 5;
export const MAX_REFUSE_SECONDS = 7 * 24 * 3600;

/** Live declines of these schedulers: scheduler → offer id → until. One walk for one scheduler or many. */
async function activeDeclines(ctx: CoreContext, schedulers: ReadonlySet<string>, now: number): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const prefix = schedulers.size === 1 ? keys.offerDeclines([...schedulers][0]!) : keys.allOfferDeclines;
  let after: string | undefined;
  do {
    const page = await ctx.store.list<OfferDecline>(prefix, { limit: 1000, ...(after !== undefined ? { after } : {}) });
    for (const { value: d } of page.records) {
      if (d.until <= now || !schedulers.has(d.scheduler)) continue;
      let mine = out.get(d.scheduler);
      if (!mine) out.set(d.scheduler, (mine = new Map()));
      mine.set(d.offerId, d.until);
    }
    after = page.next;
  } while (after !== undefined);
  return out;
}

export interface DeclineInput {
  readonly refuseSeconds?: number;
}

/**
 * Declines an offer: it is left out of the caller's offers (list and watch) for `refuseSeconds`
 * (default 5, as Mesos does), after which it is offered again if it still exists.
 */
export async function declineOffer(ctx: CoreContext, caller: Caller, offerId: string, input: DeclineInput = {}): Promise<OfferDecline> {
  const target = decodeOfferId(offerId);
  const refuse = input.refuseSeconds ?? DEFAULT_REFUSE_SECONDS;
  if (typeof refuse !== 'number' || !Number.isFinite(refuse) || refuse <= 0 || refuse > MAX_REFUSE_SECONDS) {
    throw invalid('refuseSeconds', `must be a number of seconds above 0 and at most ${MAX_REFUSE_SECONDS}`);
  }
  await assertOfferVisible(ctx, caller, offerId, target);
  const decline: OfferDecline = { offerId, scheduler: caller.name, until: ctx.clock.now() + Math.round(refuse * 1000) };
  await ctx.store.txn({ compares: [], ops: [{ type: 'put', key: keys.offerDecline(caller.name, offerId), value: decline }] });
  return decline;
}

/** The offer's pool or volume exists and the caller may see it; otherwise it is not found. */
async function assertOfferVisible(ctx: CoreContext, caller: Caller, offerId: string, target: OfferTarget): Promise<void> {
  if (target.kind === 'capacity') {
    const found = findPool(ctx, target.id);
    if (!found || !mayUseService(caller, found.pool.service)) throw offerNotFound(offerId);
    return;
  }
  const v = (await ctx.store.get<Volume>(keys.volume(target.id)))?.value;
  if (!v || !maySeeVolume(caller, v)) throw offerNotFound(offerId);
}

/** The pool with this id in any service. */
export function findPool(ctx: CoreContext, poolId: string): { pool: PoolState; service: string } | undefined {
  for (const [service, ledger] of ctx.ledgers) {
    const pool = ledger.pool(poolId);
    if (pool) return { pool, service };
  }
  return undefined;
}

/** Removes declines whose refuse period is over; returns how many. */
export async function expireDeclines(ctx: CoreContext): Promise<number> {
  const now = ctx.clock.now();
  const stale: StoreRecord<OfferDecline>[] = [];
  let after: string | undefined;
  do {
    const page = await ctx.store.list<OfferDecline>(keys.allOfferDeclines, { limit: 1000, ...(after !== undefined ? { after } : {}) });
    for (const r of page.records) if (r.value.until <= now) stale.push(r);
    after = page.next;
  } while (after !== undefined);
  let removed = 0;
  for (const r of stale) {
    // Guarded by revision: a decline renewed meanwhile stays.
    const res = await ctx.store.txn({ compares: [{ key: r.key, revision: r.revision }], ops: [{ type: 'delete', key: r.key }] });
    if (res.ok) removed++;
  }
  return removed;
}
