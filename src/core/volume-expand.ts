import { assertMaySeeVolume } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { invalid, PollyError } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Volume } from './model.js';
import { availableBytes } from './placement/types.js';
import type { OperationOptions } from './ports/storage-driver.js';
import { loadVolume } from './records.js';
import { formatBytes } from './units.js';

/**
 * Controller expand: grows a volume to `sizeBytes` (never shrinks). The extra bytes go through
 * the service's ledger like a create's (pool capacity with overcommit, service quota) and are
 * committed with the new size in one transaction; then the driver grows the backend. A driver
 * failure gives the bytes back. Asking for the size a volume has already is answered with the
 * volume after the driver confirmed it (so a retry repairs an interrupted expand). The node
 * grows what it sees with expandVolumeOnNode.
 */
export async function expandVolume(ctx: CoreContext, caller: Caller, id: string, sizeBytes: number, options: OperationOptions = {}): Promise<Volume> {
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('sizeBytes', 'must be a positive integer number of bytes');
  const record = await loadVolume(ctx, id);
  const current = assertMaySeeVolume(caller, record?.value, id);
  const { driver, ledger } = serviceOf(ctx, current.service);
  if (!driver.capabilities.expand) throw new PollyError('UNSUPPORTED', `the ${driver.name} driver of service ${current.service} cannot expand volumes`);
  if (current.status !== 'available' && current.status !== 'attached') {
    throw new PollyError(current.status === 'creating' || current.status === 'deleting' ? 'IN_PROGRESS' : 'FAILED_PRECONDITION', `volume ${id} is ${current.status}; it cannot be expanded now`, { volumeId: id });
  }
  if (sizeBytes < current.sizeBytes) {
    throw new PollyError('OUT_OF_RANGE', `sizeBytes: volume ${id} has ${current.sizeBytes} bytes; volumes cannot shrink`, { field: 'sizeBytes', currentBytes: current.sizeBytes });
  }
  const pool = ledger.pool(current.pool);
  if (!pool) throw new PollyError('INTERNAL', `pool ${current.pool} of volume ${id} is not configured`, { volumeId: id });
  const delta = sizeBytes - current.sizeBytes;
  const ref = { pool: pool.spec.name, backendId: current.backendId };

  let volume = current;
  if (delta > 0) {
    volume = await ledger.submit((view) => {
      const quota = view.spec.quota;
      if (quota.maxBytes !== undefined && view.usage.bytes + delta > quota.maxBytes) {
        throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} would use ${formatBytes(view.usage.bytes + delta)} of at most ${formatBytes(quota.maxBytes)}`, { quota });
      }
      const free = availableBytes(pool);
      if (delta > free) {
        throw new PollyError('INSUFFICIENT_CAPACITY', `pool ${pool.spec.name}: expanding volume ${id} needs ${formatBytes(delta)} more, ${formatBytes(free)} free`, {
          pool: pool.spec.name, neededBytes: delta, freeBytes: free,
        });
      }
      const next: Volume = { ...current, sizeBytes, updatedAt: ctx.clock.now() };
      return {
        compares: [{ key: keys.volume(id), revision: record!.revision }],
        ops: [{ type: 'put', key: keys.volume(id), value: next }],
        pools: [{ pool, delta: { provisionedBytes: delta } }],
        service: { volumes: 0, bytes: delta },
        result: () => next,
      };
    });
  }
  try {
    await driver.expand(ref, sizeBytes, options);
  } catch (e) {
    if (delta > 0) await giveBack(ctx, volume, current, delta).catch((err: unknown) => ctx.logger.error({ err, volumeId: id }, 'giving back the bytes of a failed expand failed'));
    throw backendError(`expanding volume ${id}`, e);
  }
  ctx.logger.info({ volumeId: id, sizeBytes }, 'volume expanded');
  return volume;
}

/** Undoes the catalog half of an expand the backend refused (unless the record changed since). */
async function giveBack(ctx: CoreContext, expanded: Volume, before: Volume, delta: number): Promise<void> {
  const { ledger } = serviceOf(ctx, expanded.service);
  const pool = ledger.pool(expanded.pool);
  const record = await loadVolume(ctx, expanded.id);
  if (!pool || !record || record.value.sizeBytes !== expanded.sizeBytes) return;
  await ledger.submit(() => ({
    compares: [{ key: keys.volume(expanded.id), revision: record.revision }],
    ops: [{ type: 'put', key: keys.volume(expanded.id), value: { ...record.value, sizeBytes: before.sizeBytes, updatedAt: ctx.clock.now() } }],
    pools: [{ pool, delta: { provisionedBytes: -delta } }],
    service: { volumes: 0, bytes: -delta },
    result: () => undefined,
  }));
}
