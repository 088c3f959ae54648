import { maySeeVolume } from './access.js';
import { serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid, notFound } from './errors.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import type { LedgerView } from './ledger.js';
import type { Caller, Claim, Volume } from './model.js';
import { checkName } from './names.js';
import { decodeOfferId, expireDeclines, findPool, offerNotFound } from './offers.js';
import type { Placement } from './placement/placement.js';
import { availableBytes, type PlacementRequest } from './placement/types.js';
import type { PoolState } from './pool-state.js';
import type { StoreRecord, TxnCompare, TxnOp } from './ports/store.js';
import { loadVolume } from './records.js';
import { formatBytes } from './units.js';

export interface AcceptInput {
  /** Capacity offers: the bytes to reserve (at most the offer's maxVolumeBytes). */
  readonly sizeBytes?: number;
  /** Lifetime of the claim in seconds (default and maximum from the configuration). */
  readonly ttlSeconds?: number;
}

const CLAIM_ID = /^clm-[0-9a-z]{26}$/;
const VOLUME_ATTEMPTS = 10;

/**
 * Accepts an offer: a claim that reserves the offered volume or `sizeBytes` of the offered pool
 * until it is consumed (create or attach with the claim), released, or expires.
 *
 * Capacity claims are planned and written by the service's ledger, the same batched,
 * revision-guarded writer that reserves capacity for creates: accepts and creates see each
 * other's reservations, so a pool is never promised twice. A volume claim is written on the
 * volume record itself, compared on its revision, so a volume has at most one live claim.
 */
export async function acceptOffer(ctx: CoreContext, caller: Caller, offerId: string, input: AcceptInput = {}): Promise<Claim> {
  const target = decodeOfferId(offerId);
  const ttlMs = claimTtl(ctx, input.ttlSeconds);
  if (target.kind === 'capacity') {
    if (input.sizeBytes === undefined) throw invalid('size', 'is required to accept a capacity offer');
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes <= 0) throw invalid('size', 'must be a positive number of bytes');
    return acceptCapacity(ctx, caller, offerId, target.id, input.sizeBytes, ttlMs);
  }
  if (input.sizeBytes !== undefined) throw invalid('size', 'applies to capacity offers only; a volume offer claims the whole volume');
  return acceptVolume(ctx, caller, offerId, target.id, ttlMs);
}

function claimTtl(ctx: CoreContext, ttlSeconds: number | undefined): number {
  if (ttlSeconds === undefined) return ctx.claims.defaultTtlMs;
  const maxSeconds = ctx.claims.maxTtlMs / 1000;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw invalid('ttl', 'must be a positive number of seconds');
  if (ttlSeconds > maxSeconds) {
    throw new PollyError('OUT_OF_RANGE', `ttl: ${ttlSeconds} s is longer than the longest claim allowed (${maxSeconds} s)`, { field: 'ttl', maxSeconds });
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

async function acceptCapacity(ctx: CoreContext, caller: Caller, offerId: string, poolId: string, sizeBytes: number, ttlMs: number): Promise<Claim> {
  const found = findPool(ctx, poolId);
  if (!found || !(caller.kind === 'admin' || caller.services === '*' || caller.services.includes(found.service))) throw offerNotFound(offerId);
  const { ledger } = serviceOf(ctx, found.service);
  const id = newId('clm');
  const claim = await ledger.submit((view) => {
    const pool = view.pool(poolId)!;
    checkQuota(view, sizeBytes);
    const free = availableBytes(pool);
    if (sizeBytes > free) {
      const reason = `needs ${formatBytes(sizeBytes)}, ${formatBytes(free)} free`;
      throw new PollyError('INSUFFICIENT_CAPACITY', `pool ${pool.id} cannot reserve the claim: ${reason}`, { pools: [{ pool: pool.id, reason }] });
    }
    const now = ctx.clock.now();
    const value: Claim = {
      id, kind: 'capacity', scheduler: caller.name, offerId, service: found.service, pool: pool.id, sizeBytes, createdAt: now, expiresAt: now + ttlMs,
    };
    return {
      compares: [{ key: keys.claim(id), revision: 0 }],
      ops: [{ type: 'put', key: keys.claim(id), value }],
      pools: [{ pool, delta: { reservedBytes: sizeBytes } }],
      service: { volumes: 0, bytes: sizeBytes },
      result: () => value,
    };
  });
  ctx.logger.info({ claimId: id, scheduler: caller.name, pool: poolId, size: sizeBytes }, 'capacity claimed');
  return claim;
}

function checkQuota(view: LedgerView, bytes: number): void {
  const quota = view.spec.quota;
  if (quota.maxVolumes !== undefined && view.usage.volumes + 1 > quota.maxVolumes) {
    throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} already has ${view.usage.volumes} of at most ${quota.maxVolumes} volumes`, { quota });
  }
  if (quota.maxBytes !== undefined && view.usage.bytes + bytes > quota.maxBytes) {
    throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} would use ${formatBytes(view.usage.bytes + bytes)} of at most ${formatBytes(quota.maxBytes)}`, { quota });
  }
}

async function acceptVolume(ctx: CoreContext, caller: Caller, offerId: string, volumeId: string, ttlMs: number): Promise<Claim> {
  for (let attempt = 0; attempt < VOLUME_ATTEMPTS; attempt++) {
    const rec = await loadVolume(ctx, volumeId);
    const v = rec?.value;
    if (!rec || !v || !maySeeVolume(caller, v)) throw offerNotFound(offerId);
    const now = ctx.clock.now();
    if (v.claim && v.claim.expiresAt > now) {
      throw new PollyError('CONFLICT', `volume ${v.id} is already claimed${v.claim.scheduler === caller.name ? ' by you' : ''} until ${new Date(v.claim.expiresAt).toISOString()}`, { volumeId: v.id });
    }
    if (v.status !== 'available' || v.attachments.length > 0) {
      throw new PollyError('FAILED_PRECONDITION', `volume ${v.id} is ${v.attachments.length > 0 ? 'attached' : v.status}; only available volumes can be claimed`, { volumeId: v.id });
    }
    const id = newId('clm');
    const claim: Claim = {
      id, kind: 'volume', scheduler: caller.name, offerId, service: v.service, pool: v.pool, volumeId: v.id,
      sizeBytes: v.sizeBytes, createdAt: now, expiresAt: now + ttlMs,
    };
    const ops: TxnOp[] = [
      { type: 'put', key: keys.volume(v.id), value: { ...v, claim: { id, scheduler: caller.name, expiresAt: claim.expiresAt }, updatedAt: now } },
      { type: 'put', key: keys.claim(id), value: claim },
    ];
    if (v.claim) ops.push({ type: 'delete', key: keys.claim(v.claim.id) }); // an expired claim not released yet
    const res = await ctx.store.txn({ compares: [{ key: keys.volume(v.id), revision: rec.revision }, { key: keys.claim(id), revision: 0 }], ops });
    if (res.ok) {
      ctx.logger.info({ claimId: id, scheduler: caller.name, volumeId: v.id }, 'volume claimed');
      return claim;
    }
  }
  throw new PollyError('UNAVAILABLE', `volume ${volumeId} is changing too often; retry`, { volumeId }, { retryable: true });
}

// ---------------------------------------------------------------------------------------------
// listing and release

export interface ClaimFilter {
  /** Admins only: the claims of one scheduler. */
  readonly scheduler?: string;
}

export async function loadClaim(ctx: CoreContext, id: string): Promise<StoreRecord<Claim> | undefined> {
  if (typeof id !== 'string' || !CLAIM_ID.test(id)) return undefined;
  return ctx.store.get<Claim>(keys.claim(id));
}

/** A scheduler sees its own claims; an admin sees every claim. */
const maySeeClaim = (caller: Caller, c: Claim): boolean => caller.kind === 'admin' || c.scheduler === caller.name;

export async function listClaims(ctx: CoreContext, caller: Caller, filter: ClaimFilter = {}): Promise<Claim[]> {
  if (filter.scheduler !== undefined) checkName('scheduler', filter.scheduler);
  const out: Claim[] = [];
  await forEachClaim(ctx, (r) => {
    if (maySeeClaim(caller, r.value) && (filter.scheduler === undefined || r.value.scheduler === filter.scheduler)) out.push(r.value);
  });
  return out;
}

export async function getClaim(ctx: CoreContext, caller: Caller, id: string): Promise<Claim> {
  const c = (await loadClaim(ctx, id))?.value;
  if (!c || !maySeeClaim(caller, c)) throw notFound('claim', id);
  return c;
}

async function forEachClaim(ctx: CoreContext, visit: (r: StoreRecord<Claim>) => void): Promise<void> {
  let after: string | undefined;
  do {
    const page = await ctx.store.list<Claim>(keys.claims, { limit: 1000, ...(after !== undefined ? { after } : {}) });
    for (const r of page.records) visit(r);
    after = page.next;
  } while (after !== undefined);
}

/** Gives a claim up before it expires (its owner or an admin); returns the released claim. */
export async function releaseClaim(ctx: CoreContext, caller: Caller, id: string): Promise<Claim> {
  for (let attempt = 0; attempt < VOLUME_ATTEMPTS; attempt++) {
    const rec = await loadClaim(ctx, id);
    if (!rec || !maySeeClaim(caller, rec.value)) throw notFound('claim', id);
    if (await release(ctx, rec)) {
      ctx.logger.info({ claimId: id, by: caller.name }, 'claim released');
      return rec.value;
    }
  }
  throw new PollyError('UNAVAILABLE', `claim ${id} is changing too often; retry`, { claimId: id }, { retryable: true });
}

/** Deletes a claim record and gives back what it holds; false when the record changed meanwhile. */
async function release(ctx: CoreContext, rec: StoreRecord<Claim>): Promise<boolean> {
  const c = rec.value;
  const compare: TxnCompare = { key: rec.key, revision: rec.revision };
  if (c.kind === 'capacity') {
    const { ledger } = serviceOf(ctx, c.service);
    try {
      await ledger.submit((view) => {
        const pool = view.pool(c.pool);
        return {
          compares: [compare],
          ops: [{ type: 'delete', key: rec.key }],
          pools: pool ? [{ pool, delta: { reservedBytes: -c.sizeBytes } }] : [],
          service: { volumes: 0, bytes: -c.sizeBytes },
          result: () => undefined,
        };
      });
      return true;
    } catch (e) {
      if (e instanceof PollyError && e.code === 'CONFLICT') return false;
      throw e;
    }
  }
  const vrec = c.volumeId !== undefined ? await loadVolume(ctx, c.volumeId) : undefined;
  const compares: TxnCompare[] = [compare];
  const ops: TxnOp[] = [{ type: 'delete', key: rec.key }];
  if (vrec && vrec.value.claim?.id === c.id) {
    const { claim: _released, ...rest } = vrec.value;
    compares.push({ key: vrec.key, revision: vrec.revision });
    ops.push({ type: 'put', key: vrec.key, value: { ...rest, updatedAt: ctx.clock.now() } });
  }
  return (await ctx.store.txn({ compares, ops })).ok;
}

export interface ExpireReport {
  readonly released: string[];
  readonly declinesExpired: number;
}

/**
 * Releases every claim whose TTL has passed and forgets declines whose refuse period is over.
 * One replica (the leader) runs it periodically; a claim released meanwhile by its owner, or
 * consumed, is simply skipped.
 */
export async function expireClaims(ctx: CoreContext): Promise<ExpireReport> {
  const now = ctx.clock.now();
  const expired: StoreRecord<Claim>[] = [];
  await forEachClaim(ctx, (r) => void (r.value.expiresAt <= now && expired.push(r)));
  const released: string[] = [];
  for (const rec of expired) {
    try {
      if (await release(ctx, rec)) released.push(rec.value.id);
    } catch (e) {
      ctx.logger.warn({ err: e, claimId: rec.value.id }, 'releasing an expired claim failed; next pass retries');
    }
  }
  const declinesExpired = await expireDeclines(ctx);
  if (released.length > 0) ctx.logger.info({ released: released.length }, 'expired claims released');
  return { released, declinesExpired };
}

// ---------------------------------------------------------------------------------------------
// consuming claims (create and attach)

/**
 * The capacity claim a create names: it must exist, be a capacity claim of the caller in the
 * create's service, be live, and hold at least `sizeBytes`.
 */
export async function claimForCreate(ctx: CoreContext, caller: Caller, id: string, service: string, sizeBytes: number): Promise<StoreRecord<Claim>> {
  const rec = await loadClaim(ctx, id);
  if (!rec || rec.value.scheduler !== caller.name) throw notFound('claim', id);
  const c = rec.value;
  if (c.kind !== 'capacity') throw invalid('claim', `claim ${id} holds a volume; use it to attach that volume, not to create one`);
  if (c.expiresAt <= ctx.clock.now()) throw new PollyError('FAILED_PRECONDITION', `claim ${id} expired at ${new Date(c.expiresAt).toISOString()}`, { claimId: id });
  if (c.service !== service) throw invalid('claim', `claim ${id} reserves capacity in service ${c.service}, not ${service}`);
  if (sizeBytes > c.sizeBytes) {
    throw new PollyError('OUT_OF_RANGE', `size ${formatBytes(sizeBytes)} is larger than claim ${id} (${formatBytes(c.sizeBytes)})`, { claimId: id, claimSize: c.sizeBytes });
  }
  return rec;
}

/**
 * How a create consumes a capacity claim in its own transaction: the volume goes to the claim's
 * pool (which must suit the request) and takes over the claim's reservation; what the claim held
 * beyond the volume's size is given back.
 */
export function claimPlacement(
  placement: Placement, view: LedgerView, rec: StoreRecord<Claim>, request: PlacementRequest,
): { pool: PoolState; compares: TxnCompare[]; ops: TxnOp[] } {
  const c = rec.value;
  const pool = view.pool(c.pool);
  if (!pool) throw new PollyError('FAILED_PRECONDITION', `pool ${c.pool} of claim ${c.id} is no longer configured`, { claimId: c.id });
  const reason = placement.staticVerdict(request, pool, view.zoneVolumes);
  if (reason !== undefined) throw invalid('claim', `pool ${pool.id} of claim ${c.id} does not suit the volume: it ${reason}`, { pools: [{ pool: pool.id, reason }] });
  return { pool, compares: [{ key: rec.key, revision: rec.revision }], ops: [{ type: 'delete', key: rec.key }] };
}

/**
 * Checks an attach against the volume's claim. With `claimId` the caller consumes its own live
 * claim on the volume (the claim is cleared from the volume; the caller deletes the record in
 * the same transaction). Without it, a live claim of anyone blocks the attach.
 */
export function attachClaimCheck(ctx: CoreContext, caller: Caller, v: Volume, claimId: string | undefined): Volume {
  const now = ctx.clock.now();
  const live = v.claim !== undefined && v.claim.expiresAt > now;
  if (claimId === undefined) {
    if (live) {
      throw new PollyError('FAILED_PRECONDITION', `volume ${v.id} is claimed by ${v.claim!.scheduler} until ${new Date(v.claim!.expiresAt).toISOString()}; attach with that claim or release it first`, { volumeId: v.id });
    }
    return v;
  }
  if (v.claim?.id !== claimId || v.claim.scheduler !== caller.name) throw notFound('claim', claimId);
  if (!live) throw new PollyError('FAILED_PRECONDITION', `claim ${claimId} expired at ${new Date(v.claim.expiresAt).toISOString()}`, { claimId });
  const { claim: _consumed, ...rest } = v;
  return rest;
}

export function checkClaimId(field: string, id: unknown): string {
  if (typeof id !== 'string' || !CLAIM_ID.test(id)) throw invalid(field, 'is not a claim id (clm-…)');
  return id;
}
