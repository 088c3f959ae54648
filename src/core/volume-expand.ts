import { assertMaySeeVolume } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Volume } from './model.js';
import { availableBytes } from './placement/types.js';
import type { OperationOptions } from './ports/storage-driver.js';
import { loadVolume } from './records.js';
import { formatBytes } from './units.js';

export interface ExpandResult {
  readonly volume: Volume;
  /** False when the volume already had at least the asked size. */
  readonly expanded: boolean;
}

/**
 * Grows a volume (never shrinks it). The catalog takes the new size and the pool's and service's
 * usage grow in one ledger transaction (capacity and quota checked there), then the driver grows
 * the backend; a driver failure puts the old size back. A crash in between leaves the catalog
 * ahead of the backend: asking for the same size again calls the driver again, which is idempotent.
 */
export async function expandVolume(ctx: CoreContext, caller: Caller, id: string, sizeBytes: number, options: OperationOptions = {}): Promise<ExpandResult> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('size', 'must be a positive number of bytes');
  const rec = await loadVolume(ctx, id);
  const current = assertMaySeeVolume(caller, rec?.value, id);
  const { driver, ledger } = serviceOf(ctx, current.service);
  if (!driver.capabilities.expand) throw new PollyError('UNSUPPORTED', `the ${driver.name} driver of service ${current.service} cannot expand volumes`);
  if (current.status !== 'available' && current.status !== 'attached') {
    throw new PollyError(current.status === 'creating' || current.status === 'deleting' ? 'IN_PROGRESS' : 'FAILED_PRECONDITION', `volume ${id} is ${current.status}; it cannot be expanded now`, { volumeId: id });
  }
  const pool = ledger.pool(current.pool);
  if (!pool) throw new PollyError('INTERNAL', `pool ${current.pool} of volume ${id} is not configured`);
  const ref = { pool: pool.spec.name, backendId: current.backendId };
  if (sizeBytes <= current.sizeBytes) {
    try {
      await driver.expand(ref, current.sizeBytes, options);
    } catch (e) {
      throw backendError(`expanding volume ${id}`, e);
    }
    return { volume: current, expanded: false };
  }

  const delta = sizeBytes - current.sizeBytes;
  const grown: Volume = { ...current, sizeBytes, updatedAt: ctx.clock.now() };
  await ledger.submit((view) => {
    const quota = view.spec.quota;
    if (quota.maxBytes !== undefined && view.usage.bytes + delta > quota.maxBytes) {
      throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} would use ${formatBytes(view.usage.bytes + delta)} of at most ${formatBytes(quota.maxBytes)}`, { quota });
    }
    const free = availableBytes(pool);
    if (delta > free) {
      throw new PollyError('INSUFFICIENT_CAPACITY', `pool ${pool.id} has ${formatBytes(free)} free; growing volume ${id} by ${formatBytes(delta)} does not fit`, { pool: pool.id });
    }
    return {
      compares: [{ key: keys.volume(id), revision: rec!.revision }],
      ops: [{ type: 'put', key: keys.volume(id), value: grown }],
      pools: [{ pool, delta: { provisionedBytes: delta } }],
      service: { volumes: 0, bytes: delta },
      result: () => grown,
    };
  }).catch((e: unknown) => {
    if (e instanceof PollyError && e.code === 'CONFLICT') throw new PollyError('IN_PROGRESS', `volume ${id} changed meanwhile; retry`, { volumeId: id });
    throw e;
  });

  try {
    await driver.expand(ref, sizeBytes, options);
  } catch (e) {
    await shrinkBack(ctx, grown, current.sizeBytes).catch((re: unknown) =>
      ctx.logger.error({ err: re, volumeId: id }, 'putting back the size of a failed expand failed; the reconciler recounts usage'));
    throw backendError(`expanding volume ${id}`, e);
  }
  ctx.logger.info({ volumeId: id, from: current.sizeBytes, to: sizeBytes }, 'volume expanded');
  return { volume: grown, expanded: true };
}

async function shrinkBack(ctx: CoreContext, grown: Volume, sizeBytes: number): Promise<void> {
  const { ledger } = serviceOf(ctx, grown.service);
  const rec = await loadVolume(ctx, grown.id);
  if (!rec || rec.value.sizeBytes !== grown.sizeBytes) return;
  const pool = ledger.pool(grown.pool)!;
  const delta = grown.sizeBytes - sizeBytes;
  const back: Volume = { ...rec.value, sizeBytes, updatedAt: ctx.clock.now() };
  await ledger.submit(() => ({
    compares: [{ key: keys.volume(grown.id), revision: rec.revision }],
    ops: [{ type: 'put', key: keys.volume(grown.id), value: back }],
    pools: [{ pool, delta: { provisionedBytes: -delta } }],
    service: { volumes: 0, bytes: -delta },
    result: () => undefined,
  }));
}
