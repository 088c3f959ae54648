import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError } from './errors.js';
import type { Caller, Volume } from './model.js';
import { updateVolume } from './records.js';
import { attachVolume, detachVolume, getVolume, type AttachInput } from './volumes.js';

/**
 * Attach and detach with the backend's say: the catalog's attachment record (RWO kept by
 * `attachVolume`) and, for drivers that need it (a CSI plugin), the backend's controller publish,
 * whose answer is kept on the attachment. A backend failure takes a new attachment back, so the
 * catalog never shows a volume attached that the backend refused.
 */
export async function attachToNode(ctx: CoreContext, caller: Caller, id: string, input: AttachInput): Promise<Volume> {
  const before = await getVolume(ctx, caller, id);
  const volume = await attachVolume(ctx, caller, id, input);
  const { driver, ledger } = serviceOf(ctx, volume.service);
  if (!driver.controllerPublish) return volume;
  const attachment = volume.attachments.find((a) => a.nodeId === input.nodeId)!;
  const pool = ledger.pool(volume.pool);
  if (!pool) throw new PollyError('INTERNAL', `pool ${volume.pool} of volume ${id} is not configured`);
  let context: Readonly<Record<string, string>>;
  try {
    context = await driver.controllerPublish({ pool: pool.spec.name, backendId: volume.backendId }, input.nodeId, { accessMode: attachment.accessMode, readOnly: attachment.readOnly });
  } catch (e) {
    if (!before.attachments.some((a) => a.nodeId === input.nodeId)) {
      await detachVolume(ctx, caller, id, input.nodeId).catch((de: unknown) =>
        ctx.logger.error({ err: de, volumeId: id, nodeId: input.nodeId }, 'taking back the attachment of a failed publish failed'));
    }
    throw backendError(`publishing volume ${id} to node ${input.nodeId}`, e);
  }
  return updateVolume(ctx, id, (v) => {
    if (!v) throw new PollyError('NOT_FOUND', `volume ${id} was deleted meanwhile`, { kind: 'volume', id });
    return { ...v, attachments: v.attachments.map((a) => (a.nodeId === input.nodeId ? { ...a, publishContext: { ...context } } : a)) };
  });
}

export async function detachFromNode(ctx: CoreContext, caller: Caller, id: string, nodeId: string): Promise<Volume> {
  const volume = await getVolume(ctx, caller, id);
  const { driver, ledger } = serviceOf(ctx, volume.service);
  const pool = ledger.pool(volume.pool);
  if (driver.controllerUnpublish && pool && volume.attachments.some((a) => a.nodeId === nodeId)) {
    try {
      await driver.controllerUnpublish({ pool: pool.spec.name, backendId: volume.backendId }, nodeId);
    } catch (e) {
      throw backendError(`unpublishing volume ${id} from node ${nodeId}`, e);
    }
  }
  return detachVolume(ctx, caller, id, nodeId);
}

