import { serviceOf, type CoreContext } from './context.js';
import { asPollyError } from './errors.js';
import { keys } from './keys.js';
import type { Snapshot, Volume } from './model.js';
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
        listing.set(pool.id, new Set((await driver.list(pool.spec.name)).map((b) => b.backendId)));
      } catch (e) {
        fail(`listing pool ${pool.id}`, e);
      }
    }
  }
  const present = (pool: string, backendId: string): boolean | undefined => listing.get(pool)?.has(backendId);

  const volumes = await all<Volume>(ctx, keys.volumes);
  const old = (t: number) => startedAt - t >= options.intentAgeMs;
  // A volume committed after the listing began may be missing from it: only records older than
  // the listing (with a margin for other replicas' clocks) are checked against it, unless
  // nothing is in flight.
  const settled = (t: number) => options.quiescent || t < startedAt - LISTING_MARGIN_MS;
  for (const { value: v } of volumes) {
    try {
      if (v.status === 'creating' && old(v.updatedAt)) {
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
        await ctx.store.txn({ compares: [], ops: [{ type: 'put', key: keys.volume(v.id), value: transition(v, 'error', ctx.clock.now(), reason) }] });
        report.missingBackend.push(v.id);
      }
    } catch (e) {
      fail(`volume ${v.id}`, e);
    }
  }

  const snapshots = await all<Snapshot>(ctx, keys.snapshots);
  for (const { value: s } of snapshots) {
    try {
      if (s.status === 'creating' && old(s.createdAt)) {
        if (present(s.pool, s.backendId) === true) {
          await ctx.store.txn({ compares: [], ops: [{ type: 'put', key: keys.snapshot(s.id), value: { ...s, status: 'ready' } }] });
          report.finished.push(s.id);
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
  }

  const known = new Set<string>();
  for (const r of await all<Volume | Snapshot>(ctx, keys.volumes)) known.add(`${r.value.pool}\0${r.value.backendId}`);
  for (const r of await all<Volume | Snapshot>(ctx, keys.snapshots)) known.add(`${r.value.pool}\0${r.value.backendId}`);
  for (const [name, ledger] of ctx.ledgers) {
    const driver = ctx.drivers.get(name)!;
    for (const pool of ledger.pools) {
      if (!listing.has(pool.id)) continue; // listing failed above, already reported
      try {
        listing.set(pool.id, new Set((await driver.list(pool.spec.name)).map((b) => b.backendId)));
      } catch (e) {
        fail(`listing pool ${pool.id}`, e);
      }
    }
  }
  for (const [poolId, ids] of listing) {
    for (const backendId of ids) {
      if (known.has(`${poolId}\0${backendId}`)) continue;
      const [service] = [...ctx.ledgers].find(([, l]) => l.pool(poolId))!;
      report.unmanaged.push({ service, pool: serviceOf(ctx, service).ledger.pool(poolId)!.spec.name, backendId });
    }
  }

  if (options.quiescent) await fixUsage(ctx, report.usageFixed);
  report.idempotencyExpired = await expireIdempotency(ctx, startedAt - options.idempotencyTtlMs);

  const done: ReconcileReport = { ...report, finishedAt: ctx.clock.now() };
  const repaired = done.finished.length + done.rolledBack.length + done.deleted.length + done.usageFixed.length + done.cleaned;
  const log = repaired + done.missingBackend.length + done.errors.length > 0 ? ctx.logger.warn : ctx.logger.debug;
  log.call(ctx.logger, { ...done, unmanaged: done.unmanaged.length }, 'reconcile finished');
  return done;
}

async function all<T>(ctx: CoreContext, prefix: string): Promise<StoreRecord<T>[]> {
  const out: StoreRecord<T>[] = [];
  let after: string | undefined;
  do {
    const page = await ctx.store.list<T>(prefix, { limit: 5000, ...(after ? { after } : {}) });
    out.push(...page.records);
    after = page.next;
  } while (after);
  return out;
}

/** Recounts pool and service usage from the volume records and writes what differs. */
async function fixUsage(ctx: CoreContext, fixed: string[]): Promise<void> {
  const volumes = await all<Volume>(ctx, keys.volumes);
  for (const [name, ledger] of ctx.ledgers) {
    await ledger.load();
    const mine = volumes.filter((r) => r.value.service === name).map((r) => r.value);
    const pools = ledger.pools.map((pool) => {
      const vs = mine.filter((v) => v.pool === pool.id);
      const reserved = vs.filter((v) => v.status === 'creating').reduce((s, v) => s + v.sizeBytes, 0);
      const provisioned = vs.filter((v) => v.status !== 'creating').reduce((s, v) => s + v.sizeBytes, 0);
      return { pool, delta: { reservedBytes: reserved - pool.reservedBytes, provisionedBytes: provisioned - pool.provisionedBytes, volumes: vs.length - pool.volumes } };
    }).filter(({ delta }) => delta.reservedBytes !== 0 || delta.provisionedBytes !== 0 || delta.volumes !== 0);
    const bytes = mine.reduce((s, v) => s + v.sizeBytes, 0);
    const service = { volumes: mine.length - ledger.usage.volumes, bytes: bytes - ledger.usage.bytes };
    if (pools.length === 0 && service.volumes === 0 && service.bytes === 0) continue;
    await ledger.submit(() => ({ pools, service, result: () => undefined }));
    fixed.push(...pools.map((p) => p.pool.id));
    if (service.volumes !== 0 || service.bytes !== 0) fixed.push(`service ${name}`);
  }
}

async function expireIdempotency(ctx: CoreContext, before: number): Promise<number> {
  const stale = (await all<{ createdAt: number }>(ctx, keys.idempotencies)).filter((r) => r.value.createdAt < before);
  const chunk = Math.min(500, ctx.store.maxTxnOps ?? 500);
  for (let i = 0; i < stale.length; i += chunk) {
    await ctx.store.txn({ compares: [], ops: stale.slice(i, i + chunk).map((r) => ({ type: 'delete' as const, key: r.key })) });
  }
  return stale.length;
}
