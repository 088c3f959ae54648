import { assertMaySeeVolume } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Volume } from './model.js';
import { availableBytes } from './placement/types.js';
import type { OperationOptions } from './ports/storage-driver.js';
import { loadVolume } from './records.js';
import { formatBytes } from './units.js';

/**
 * Grows a volume (never shrinks it). The extra bytes are charged to the volume's pool and to the
 * service quota through the ledger *before* the backend grows, so two expands can never share the
 * last bytes of a pool; a backend failure gives the bytes back. Expanding to the current size or
 * less than it is a no-op that returns the volume (idempotent retries).
 */
export async function expandVolume(ctx: CoreContext, caller: Caller, id: string, sizeBytes: number, options: OperationOptions = {}): Promise<Volume> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('size', 'must be a positive number of bytes');
  const rec = await loadVolume(ctx, id);
  const volume = assertMaySeeVolume(caller, rec?.value, id);
  if (sizeBytes < volume.sizeBytes) {
    throw new PollyError('OUT_OF_RANGE', `volume ${id} is ${formatBytes(volume.sizeBytes)}; it cannot shrink to ${formatBytes(sizeBytes)}`, { volumeId: id });
  }
  if (sizeBytes === volume.sizeBytes) return volume;
  if (volume.status !== 'available' && volume.status !== 'attached') {
    throw new PollyError('FAILED_PRECONDITION', `volume ${id} is ${volume.status}; it cannot be expanded now`, { volumeId: id });
  }
  const { driver, ledger } = serviceOf(ctx, volume.service);
  if (!driver.capabilities.expand) throw new PollyError('UNSUPPORTED', `the ${driver.name} driver of service ${volume.service} cannot expand volumes`);
  const delta = sizeBytes - volume.sizeBytes;
  const grown: Volume = { ...volume, sizeBytes, updatedAt: ctx.clock.now() };

  // One ledger write: the record's new size, the pool's provisioned bytes and the quota usage.
  const charged = await ledger.submit((view) => {
    const pool = view.pool(volume.pool);
    if (!pool) throw new PollyError('INTERNAL', `pool ${volume.pool} of volume ${id} is not configured`);
    const free = availableBytes(pool);
    if (delta > free) {
      throw new PollyError('INSUFFICIENT_CAPACITY', `pool ${pool.spec.name}: expanding volume ${id} needs ${formatBytes(delta)} more, ${formatBytes(free)} free`, { pool: pool.spec.name });
    }
    const quota = view.spec.quota;
    if (quota.maxBytes !== undefined && view.usage.bytes + delta > quota.maxBytes) {
      throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} would use ${formatBytes(view.usage.bytes + delta)} of at most ${formatBytes(quota.maxBytes)}`, { quota });
    }
    return {
      compares: [{ key: keys.volume(id), revision: rec!.revision }],
      ops: [{ type: 'put', key: keys.volume(id), value: grown }],
      pools: [{ pool, delta: { provisionedBytes: delta } }],
      service: { volumes: 0, bytes: delta },
      result: (revision: number) => revision,
    };
  }).catch((e: unknown) => {
    if (e instanceof PollyError && e.code === 'CONFLICT') throw new PollyError('IN_PROGRESS', `volume ${id} changed meanwhile; retry`, { volumeId: id });
    throw e;
  });

  try {
    await driver.expand({ pool: ledger.pool(volume.pool)!.spec.name, backendId: volume.backendId }, sizeBytes, options);
  } catch (e) {
    await giveBack(ctx, volume, grown, charged, delta).catch((re: unknown) =>
      ctx.logger.error({ err: re, volumeId: id }, 'giving back the bytes of a failed expand failed; the reconciler recounts usage'));
    throw backendError(`expanding volume ${id}`, e);
  }
  ctx.logger.info({ volumeId: id, size: sizeBytes }, 'volume expanded');
  return grown;
}

/** Undoes the ledger charge of an expand the backend refused (only if nothing changed since). */
async function giveBack(ctx: CoreContext, before: Volume, grown: Volume, revision: number, delta: number): Promise<void> {
  const { ledger } = serviceOf(ctx, before.service);
  await ledger.submit((view) => {
    const pool = view.pool(before.pool)!;
    return {
      compares: [{ key: keys.volume(before.id), revision }],
      ops: [{ type: 'put', key: keys.volume(before.id), value: { ...grown, sizeBytes: before.sizeBytes, updatedAt: ctx.clock.now() } }],
      pools: [{ pool, delta: { provisionedBytes: -delta } }],
      service: { volumes: 0, bytes: -delta },
      result: () => undefined,
    };
  });
}
