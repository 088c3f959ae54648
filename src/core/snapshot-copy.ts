import type { CoreContext } from './context.js';
import { PollyError } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Snapshot } from './model.js';
import { checkName } from './names.js';
import type { OperationOptions } from './ports/storage-driver.js';
import { loadSnapshot, putSnapshot } from './records.js';
import { createSnapshot, getSnapshot } from './snapshots.js';
import { createVolume } from './volume-create.js';
import { deleteVolume } from './volumes.js';

/**
 * Copies a snapshot within its service (libStorage's snapshot copy). Drivers snapshot volumes,
 * so the snapshot is restored into a transient volume, which is snapshotted under the new name and
 * then removed; the copy names the original's source volume as its own. Repeating a copy that
 * finished returns it. A crash midway leaves the transient volume (`snapcopy-…`) in the catalog,
 * visible and removable like any other.
 */
export async function copySnapshot(ctx: CoreContext, caller: Caller, snapshotId: string, name: string, options: OperationOptions = {}): Promise<Snapshot> {
  checkName('snapshotName', name);
  const source = await getSnapshot(ctx, caller, snapshotId);
  if (source.status !== 'ready') throw new PollyError('FAILED_PRECONDITION', `snapshot ${snapshotId} is ${source.status}, not ready`, { snapshotId });

  const taken = await ctx.store.get<{ id: string }>(keys.snapshotName(source.service, name));
  if (taken) {
    const existing = (await loadSnapshot(ctx, taken.value.id))?.value;
    if (existing && existing.id !== source.id && existing.volumeId === source.volumeId && existing.sizeBytes === source.sizeBytes && existing.status === 'ready') return existing;
    throw new PollyError('ALREADY_EXISTS', `a snapshot named ${name} already exists in service ${source.service}`, { name });
  }

  const transient = `snapcopy-${source.id.slice(-12)}-${Date.now().toString(36)}`;
  const { volume } = await createVolume(ctx, caller, { service: source.service, name: transient, source: { kind: 'snapshot', id: source.id } }, options);
  try {
    const { snapshot } = await createSnapshot(ctx, caller, { volumeId: volume.id, name, labels: source.labels }, options);
    const record = await loadSnapshot(ctx, snapshot.id);
    if (!record) throw new PollyError('IN_PROGRESS', `snapshot ${snapshot.id} was deleted meanwhile`, { snapshotId: snapshot.id });
    const copy: Snapshot = { ...record.value, volumeId: source.volumeId };
    if (!(await putSnapshot(ctx, copy, record.revision))) {
      throw new PollyError('IN_PROGRESS', `snapshot ${snapshot.id} changed meanwhile; retry`, { snapshotId: snapshot.id }, { retryable: true });
    }
    ctx.logger.info({ snapshotId: copy.id, from: source.id }, 'snapshot copied');
    return copy;
  } finally {
    await deleteVolume(ctx, caller, volume.id).catch((err: unknown) =>
      ctx.logger.error({ err, volumeId: volume.id }, 'removing the transient volume of a snapshot copy failed; remove it by hand'));
  }
}
