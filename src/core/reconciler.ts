import { serviceOf, type CoreContext } from './context.js';
import { asPollyError } from './errors.js';
import { keys } from './keys.js';
import type { Claim, Snapshot, Volume } from './model.js';
import type { StorageDriver } from './ports/storage-driver.js';
import type { StoreRecord } from './ports/store.js';
import { finishSnapshotDelete } from './snapshots.js';
import { commitCreate, rollbackCreate } from './volume-create.js';
import { finishDelete } from './volumes.js';
import { transition } from './volume-state.js';

export interface ReconcileReport {
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Creates whose backend volume exists: marked available. */
  readonly finished: string[];
  /** Creates whose backend volume never appeared: intent removed, reservation released. */
  readonly rolledBack: string[];
  /** Deletes that were interrupted and are now complete. */
  readonly deleted: string[];
  /** Catalog volumes whose backend volume is gone (marked error). */
  readonly missingBackend: string[];
  /** Backend volumes with no catalog record (see `polly volume get --all`). */
  readonly unmanaged: { service: string; pool: string; backendId: string }[];
  /** Pools and services whose usage bookkeeping was corrected. */
  readonly usageFixed: string[];
  /** Leftovers of interrupted backend operations removed. */
  readonly cleaned: number;
  readonly idempotencyExpired: number;
  readonly errors: string[];
}

export interface ReconcileOptions {
  /** Only intents older than this are touched (0 at start-up, when no request is in flight). */
  readonly intentAgeMs: number;
  /**
   * Nothing is in flight (start-up): also remove backend leftovers of interrupted operations and
   * recount usage from the records, fixing the bookkeeping.
   */
  readonly quiescent: boolean;
  readonly idempotencyTtlMs: number;
  /**
   * Several replicas: true for an intent whose replica is gone, which nothing is running any
   * more, so it is finished or rolled back whatever its age (D48).
   */
  readonly orphaned?: (intent: { readonly replica?: string; readonly updatedAt: number }) => boolean;
}

const LISTING_MARGIN_MS = 60_000;

type Listing = Map<string, Set<string>>; // pool id → backend ids present (undefined when listing failed)

/**
 * Brings catalog and backends back in line: finishes or rolls back interrupted intents and
 * reports drift both ways. Nothing is dropped silently; every repair is in the report and log.
 */
export async function reconcile(ctx: CoreContext, options: ReconcileOptions): Promise<ReconcileReport> {
  const startedAt = ctx.clock.now();
  const report: Omit<ReconcileReport, 'finishedAt' | 'cleaned' | 'idempotencyExpired'> & { cleaned: number; idempotencyExpired: number } = {
    startedAt, finished: [], rolledBack: [], deleted: [], missingBackend: [], unmanaged: [], usageFixed: [], cleaned: 0, idempotencyExpired: 0, errors: [],
  };
  const fail = (what: string, e: unknown) => report.errors.push(`${what}: ${asPollyError(e).message}`);

  const listing: Listing = new Map();
  for (const [name, ledger] of ctx.ledgers) {
    const driver = ctx.drivers.get(name)!;
    for (const pool of ledger.pools) {
      try {
        if (options.quiescent) report.cleaned += await driver.cleanup(pool.spec.name);
        listing.set(pool.id, await backendIds(driver, pool.spec.name));
      } catch (e) {
        fail(`listing pool ${pool.id}`, e);
      }
    }
  }
  const present = (pool: string, backendId: string): boolean | undefined => listing.get(pool)?.has(backendId);

  const old = (t: number) => startedAt - t >= options.intentAgeMs;
  // A volume committed after the listing began may be missing from it: only records older than
  // the listing (with a margin for other replicas' clocks) are checked against it, unless
  // nothing is in flight.
  const settled = (t: number) => options.quiescent || t < startedAt - LISTING_MARGIN_MS;
  await forEachRecord<Volume>(ctx, keys.volumes, async ({ value: v, revision }) => {
    try {
      if (v.status === 'creating' && (old(v.updatedAt) || options.orphaned?.(v) === true)) {
        const there = present(v.pool, v.backendId);
        if (there === true) {
          await commitCreate(ctx, v, v.backendId);
          report.finished.push(v.id);
        } else if (there === false) {
          await rollbackCreate(ctx, v);
          report.rolledBack.push(v.id);
        }
      } else if (v.status === 'deleting' && old(v.updatedAt)) {
        await finishDelete(ctx, v);
        report.deleted.push(v.id);
      } else if ((v.status === 'available' || v.status === 'attached') && settled(v.updatedAt) && present(v.pool, v.backendId) === false) {
        const reason = 'backend volume is missing';
        // Guarded: a record changed meanwhile (by a request, or a second pass) is left alone.
        const res = await ctx.store.txn({ compares: [{ key: keys.volume(v.id), revision }], ops: [{ type: 'put', key: keys.volume(v.id), value: transition(v, 'error', ctx.clock.now(), reason) }] });
        if (res.ok) report.missingBackend.push(v.id);
      }
    } catch (e) {
      fail(`volume ${v.id}`, e);
    }
  });

  await forEachRecord<Snapshot>(ctx, keys.snapshots, async ({ value: s, revision }) => {
    try {
      if (s.status === 'creating' && old(s.createdAt)) {
        if (present(s.pool, s.backendId) === true) {
          const res = await ctx.store.txn({ compares: [{ key: keys.snapshot(s.id), revision }], ops: [{ type: 'put', key: keys.snapshot(s.id), value: { ...s, status: 'ready' } }] });
          if (res.ok) report.finished.push(s.id);
        } else if (present(s.pool, s.backendId) === false) {
          await finishSnapshotDelete(ctx, s);
          report.rolledBack.push(s.id);
        }
      } else if (s.status === 'deleting' && old(s.createdAt)) {
        await finishSnapshotDelete(ctx, s);
        report.deleted.push(s.id);
      }
    } catch (e) {
      fail(`snapshot ${s.id}`, e);
    }
  });

  const known = new Set<string>();
  const counts = new UsageCount();
  await forEachRecord<Volume>(ctx, keys.volumes, ({ value: v }) => {
    known.add(`${v.pool}\0${v.backendId}`);
    counts.add(v);
  });
  await forEachRecord<Claim>(ctx, keys.claims, ({ value: c }) => counts.addClaim(c));
  await forEachRecord<Snapshot>(ctx, keys.snapshots, ({ value: s }) => void known.add(`${s.pool}\0${s.backendId}`));
  // What has no record is unmanaged, unless it went away meanwhile (a delete finished after the
  // listing): pools with candidates are listed once more and only what is still there counts.
  for (const [name, ledger] of ctx.ledgers) {
    const driver = ctx.drivers.get(name)!;
    for (const pool of ledger.pools) {
      const ids = listing.get(pool.id);
      if (!ids) continue; // listing failed above, already reported
      const candidates = [...ids].filter((backendId) => !known.has(`${pool.id}\0${backendId}`));
      if (candidates.length === 0) continue;
      try {
        const still = await backendIds(driver, pool.spec.name);
        for (const backendId of candidates) {
          if (!still.has(backendId)) continue;
          // An empty one is a delete the backend lost to a power loss after the record went (D95).
          if (driver.removeEmptyOrphan && (await driver.removeEmptyOrphan({ pool: pool.spec.name, backendId }))) report.cleaned++;
          else report.unmanaged.push({ service: name, pool: pool.spec.name, backendId });
        }
      } catch (e) {
        fail(`listing pool ${pool.id}`, e);
      }
    }
  }

  if (options.quiescent) await fixUsage(ctx, counts, report.usageFixed);
  report.idempotencyExpired = await expireIdempotency(ctx, startedAt - options.idempotencyTtlMs);

  const done: ReconcileReport = { ...report, finishedAt: ctx.clock.now() };
  const repaired = done.finished.length + done.rolledBack.length + done.deleted.length + done.usageFixed.length + done.cleaned;
  const log = repaired + done.missingBackend.length + done.errors.length > 0 ? ctx.logger.warn : ctx.logger.debug;
  log.call(ctx.logger, { ...done, unmanaged: done.unmanaged.length }, 'reconcile finished');
  return done;
}

async function backendIds(driver: StorageDriver, pool: string): Promise<Set<string>> {
  const entries = driver.listIds ? await driver.listIds(pool) : await driver.list(pool);
  return new Set(entries.map((b) => b.backendId));
}

/** Visits every record under a prefix a page at a time, so memory stays flat however many there are. */
export async function forEachRecord<T>(ctx: CoreContext, prefix: string, visit: (record: StoreRecord<T>) => unknown): Promise<void> {
  let after: string | undefined;
  do {
    const page = await ctx.store.list<T>(prefix, { limit: 1000, ...(after ? { after } : {}) });
    for (const r of page.records) await visit(r);
    after = page.next;
  } while (after);
}

interface PoolCount {
  reservedBytes: number;
  provisionedBytes: number;
  volumes: number;
}

/** Usage recounted from the volume records: per pool, and per service. */
class UsageCount {
  readonly pools = new Map<string, PoolCount>();
  readonly services = new Map<string, { volumes: number; bytes: number }>();

  add(v: Volume): void {
    let pool = this.pools.get(v.pool);
    if (!pool) this.pools.set(v.pool, (pool = { reservedBytes: 0, provisionedBytes: 0, volumes: 0 }));
    if (v.status === 'creating') pool.reservedBytes += v.sizeBytes;
    else pool.provisionedBytes += v.sizeBytes;
    pool.volumes++;
    let service = this.services.get(v.service);
    if (!service) this.services.set(v.service, (service = { volumes: 0, bytes: 0 }));
    service.volumes++;
    service.bytes += v.sizeBytes;
  }

  /** A capacity claim holds reserved bytes of its pool and bytes of its service's quota. */
  addClaim(c: Claim): void {
    if (c.kind !== 'capacity') return;
    let pool = this.pools.get(c.pool);
    if (!pool) this.pools.set(c.pool, (pool = { reservedBytes: 0, provisionedBytes: 0, volumes: 0 }));
    pool.reservedBytes += c.sizeBytes;
    let service = this.services.get(c.service);
    if (!service) this.services.set(c.service, (service = { volumes: 0, bytes: 0 }));
    service.bytes += c.sizeBytes;
  }
}

/** Writes the recounted usage where the bookkeeping differs. */
async function fixUsage(ctx: CoreContext, counts: UsageCount, fixed: string[]): Promise<void> {
  for (const [name, ledger] of ctx.ledgers) {
    await ledger.load();
    const pools = ledger.pools.map((pool) => {
      const c = counts.pools.get(pool.id) ?? { reservedBytes: 0, provisionedBytes: 0, volumes: 0 };
      return { pool, delta: { reservedBytes: c.reservedBytes - pool.reservedBytes, provisionedBytes: c.provisionedBytes - pool.provisionedBytes, volumes: c.volumes - pool.volumes } };
    }).filter(({ delta }) => delta.reservedBytes !== 0 || delta.provisionedBytes !== 0 || delta.volumes !== 0);
    const mine = counts.services.get(name) ?? { volumes: 0, bytes: 0 };
    const service = { volumes: mine.volumes - ledger.usage.volumes, bytes: mine.bytes - ledger.usage.bytes };
    if (pools.length === 0 && service.volumes === 0 && service.bytes === 0) continue;
    await ledger.submit(() => ({ pools, service, result: () => undefined }));
    fixed.push(...pools.map((p) => p.pool.id));
    if (service.volumes !== 0 || service.bytes !== 0) fixed.push(`service ${name}`);
  }
}

async function expireIdempotency(ctx: CoreContext, before: number): Promise<number> {
  const stale: string[] = [];
  await forEachRecord<{ createdAt: number }>(ctx, keys.idempotencies, (r) => void (r.value.createdAt < before && stale.push(r.key)));
  const chunk = Math.min(500, ctx.store.maxTxnOps ?? 500);
  for (let i = 0; i < stale.length; i += chunk) {
    await ctx.store.txn({ compares: [], ops: stale.slice(i, i + chunk).map((key) => ({ type: 'delete' as const, key })) });
  }
  return stale.length;
}
