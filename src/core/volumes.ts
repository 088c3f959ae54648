import { assertAdmin, assertMaySeeVolume, maySeeVolume } from './access.js';
import { attachClaimCheck, checkClaimId } from './claims.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid } from './errors.js';
import { keys } from './keys.js';
import { StaleWriteError, type ServiceLedger } from './ledger.js';
import type { AccessMode, Attachment, Caller, Labels, Volume, VolumeStatus } from './model.js';
import { checkLabelKey, checkLabels, checkName } from './names.js';
import type { PoolState } from './pool-state.js';
import { MAX_LIST_LIMIT } from './ports/store.js';
import { loadVolume, updateVolume } from './records.js';
import { transition } from './volume-state.js';

export interface VolumeFilter {
  readonly service?: string;
  readonly name?: string;
  readonly status?: VolumeStatus;
  readonly scheduler?: string;
  readonly labels?: Labels;
}

export interface Page<T> {
  readonly items: T[];
  readonly next?: string;
}

export async function getVolume(ctx: CoreContext, caller: Caller, id: string): Promise<Volume> {
  return assertMaySeeVolume(caller, (await loadVolume(ctx, id))?.value, id);
}

const matches = (v: Volume, f: VolumeFilter): boolean => {
  if (f.service !== undefined && v.service !== f.service) return false;
  if (f.name !== undefined && v.name !== f.name) return false;
  if (f.status !== undefined && v.status !== f.status) return false;
  if (f.scheduler !== undefined && !v.schedulers.includes(f.scheduler) && v.createdBy !== f.scheduler) return false;
  if (f.labels) for (const k in f.labels) if (v.labels[k] !== f.labels[k]) return false;
  return true;
};

/** Cursor paging over the catalog; the cursor is opaque to clients. */
export async function listVolumes(ctx: CoreContext, caller: Caller, filter: VolumeFilter, limit = 500, cursor?: string): Promise<Page<Volume>> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw invalid('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  let after = cursor === undefined ? undefined : decodeCursor(cursor, keys.volumes);
  // A name filter within a service is an index lookup, not a scan.
  if (filter.name !== undefined && filter.service !== undefined) {
    const idx = await ctx.store.get<{ id: string }>(keys.volumeName(filter.service, filter.name));
    const v = idx ? (await loadVolume(ctx, idx.value.id))?.value : undefined;
    return { items: v && maySeeVolume(caller, v) && matches(v, filter) && (after === undefined || keys.volume(v.id) > after) ? [v] : [] };
  }
  const items: Volume[] = [];
  for (;;) {
    const page = await ctx.store.list<Volume>(keys.volumes, { limit: Math.min(MAX_LIST_LIMIT, Math.max(limit, 256)), ...(after !== undefined ? { after } : {}) });
    for (const r of page.records) {
      after = r.key;
      if (!maySeeVolume(caller, r.value) || !matches(r.value, filter)) continue;
      items.push(r.value);
      if (items.length === limit) {
        const more = r !== page.records[page.records.length - 1] || page.next !== undefined;
        return more ? { items, next: encodeCursor(r.key) } : { items };
      }
    }
    if (page.next === undefined) return { items };
  }
}

export const encodeCursor = (key: string): string => Buffer.from(key).toString('base64url');

/** A cursor is the last key of a page; it is only valid for the listing (prefix) that made it. */
export function decodeCursor(cursor: string, prefix = ''): string {
  const key = Buffer.from(cursor, 'base64url').toString();
  if (cursor.length > 1024 || !key.startsWith(prefix) || !/^[a-z-]+\/[\x21-\x7e]*$/.test(key)) {
    throw invalid('cursor', 'is not a cursor this listing handed out');
  }
  return key;
}

export async function deleteVolume(ctx: CoreContext, caller: Caller, id: string): Promise<Volume> {
  const rec = await loadVolume(ctx, id);
  const volume = assertMaySeeVolume(caller, rec?.value, id);
  if (volume.status === 'attached') {
    throw new PollyError('FAILED_PRECONDITION', `volume ${id} is attached to ${volume.attachments.map((a) => a.nodeId).join(', ')}; detach it first`, { volumeId: id });
  }
  if (volume.status === 'creating') throw new PollyError('IN_PROGRESS', `volume ${id} is still being created; retry`, { volumeId: id });
  const deleting = volume.status === 'deleting' ? volume : transition(volume, 'deleting', ctx.clock.now());
  let revision = rec!.revision;
  if (deleting !== volume) {
    const res = await ctx.store.txn({
      compares: [{ key: keys.volume(id), revision: rec!.revision }],
      ops: [{ type: 'put', key: keys.volume(id), value: deleting }],
    });
    if (!res.ok) throw new PollyError('IN_PROGRESS', `volume ${id} changed meanwhile; retry`, { volumeId: id });
    revision = res.revision;
  }
  await finishDelete(ctx, deleting, revision);
  ctx.logger.info({ volumeId: id }, 'volume deleted');
  return volume;
}

/**
 * Deletes a volume marked `deleting` from the backend, then from the catalog. The removal is
 * deferred (D90): the `deleting` mark is durable and the backend volume is gone, so a power loss
 * that undoes the removal leaves an intent the start-up reconcile finishes.
 */
export async function finishDelete(ctx: CoreContext, volume: Volume, revision?: number): Promise<void> {
  const { driver, ledger } = serviceOf(ctx, volume.service);
  const pool = ledger.pool(volume.pool);
  try {
    if (pool) await driver.delete({ pool: pool.spec.name, backendId: volume.backendId });
  } catch (e) {
    throw backendError(`deleting volume ${volume.id}`, e);
  }
  // `revision` is the mark's, when the caller wrote it; the compare catches any change since.
  const current = revision === undefined ? await loadVolume(ctx, volume.id) : { revision };
  if (!current) return;
  try {
    await removeRecord(ledger, volume, current.revision, pool);
  } catch (e) {
    if (!(e instanceof StaleWriteError)) throw e;
    if (!(await loadVolume(ctx, volume.id))) return; // a concurrent delete finished it
    throw new PollyError('IN_PROGRESS', `volume ${volume.id} changed while it was being deleted; retry`, { volumeId: volume.id });
  }
}

function removeRecord(ledger: ServiceLedger, volume: Volume, revision: number, pool: PoolState | undefined): Promise<void> {
  return ledger.submit(() => ({
    compares: [{ key: keys.volume(volume.id), revision }],
    ops: [
      { type: 'delete', key: keys.volume(volume.id) },
      { type: 'delete', key: keys.volumeName(volume.service, volume.name) },
    ],
    pools: pool ? [{ pool, delta: { provisionedBytes: -volume.sizeBytes, volumes: -1 } }] : [],
    service: { volumes: -1, bytes: -volume.sizeBytes },
    result: () => undefined,
    durability: 'deferred',
  }));
}

/** Admin labels: set some keys, remove others. */
export async function labelVolume(ctx: CoreContext, caller: Caller, id: string, set: Labels = {}, remove: readonly string[] = []): Promise<Volume> {
  assertAdmin(caller, 'labelling volumes');
  const add = checkLabels('labels', set);
  for (const k of remove) checkLabelKey('labels', k);
  return updateVolume(ctx, id, (v) => {
    const cur = assertMaySeeVolume(caller, v, id);
    const labels: Record<string, string> = { ...cur.labels, ...add };
    for (const k of remove) delete labels[k];
    if (Object.keys(labels).length > 64) throw invalid('labels', 'a volume has at most 64 labels');
    return { ...cur, labels, updatedAt: ctx.clock.now() };
  });
}

/** The 2016 offer: makes a volume visible and usable to schedulers. */
export async function offerVolume(ctx: CoreContext, caller: Caller, id: string, schedulers: readonly string[]): Promise<Volume> {
  assertAdmin(caller, 'offering volumes');
  if (schedulers.length === 0) throw invalid('schedulers', 'name at least one scheduler');
  for (const s of schedulers) checkName('schedulers', s);
  return updateVolume(ctx, id, (v) => {
    const cur = assertMaySeeVolume(caller, v, id);
    return { ...cur, schedulers: [...new Set([...cur.schedulers, ...schedulers])], updatedAt: ctx.clock.now() };
  });
}

export async function revokeVolume(ctx: CoreContext, caller: Caller, id: string, schedulers: readonly string[]): Promise<Volume> {
  assertAdmin(caller, 'revoking offers');
  if (schedulers.length === 0) throw invalid('schedulers', 'name at least one scheduler');
  for (const s of schedulers) checkName('schedulers', s);
  return updateVolume(ctx, id, (v) => {
    const cur = assertMaySeeVolume(caller, v, id);
    return { ...cur, schedulers: cur.schedulers.filter((s) => !schedulers.includes(s)), updatedAt: ctx.clock.now() };
  });
}

export interface AttachInput {
  readonly nodeId: string;
  readonly accessMode?: AccessMode;
  readonly readOnly?: boolean;
  /** A live volume claim of the caller on this volume, consumed by the attach. */
  readonly claim?: string;
}

/**
 * Records an attachment. An RWO volume has at most one writable attachment cluster-wide;
 * attaching again to the same node is idempotent.
 */
export async function attachVolume(ctx: CoreContext, caller: Caller, id: string, input: AttachInput): Promise<Volume> {
  checkName('nodeId', input.nodeId);
  const accessMode = input.accessMode ?? 'rwo';
  if (!['rwo', 'rox', 'rwx'].includes(accessMode)) throw invalid('accessMode', 'must be rwo, rox or rwx');
  const readOnly = input.readOnly ?? accessMode === 'rox';
  if (accessMode === 'rox' && !readOnly) throw invalid('readOnly', 'a rox attachment is read-only');
  const claimId = input.claim === undefined ? undefined : checkClaimId('claim', input.claim);
  return updateVolume(ctx, id, (v) => {
    const seen = assertMaySeeVolume(caller, v, id);
    // A retried attach whose claim was already consumed by the first try is the same attach.
    const retried = claimId !== undefined && seen.claim?.id !== claimId &&
      seen.attachments.some((a) => a.nodeId === input.nodeId && a.accessMode === accessMode && a.readOnly === readOnly);
    const cur = retried ? seen : attachClaimCheck(ctx, caller, seen, claimId);
    const same = cur.attachments.find((a) => a.nodeId === input.nodeId);
    if (same) {
      if (same.accessMode === accessMode && same.readOnly === readOnly) return cur;
      throw new PollyError('ALREADY_EXISTS', `volume ${id} is already attached to ${input.nodeId} with other options (${same.accessMode}${same.readOnly ? ', read-only' : ''})`, { nodeId: input.nodeId });
    }
    const writer = cur.attachments.find((a) => !a.readOnly);
    if (cur.attachments.length > 0 && (accessMode === 'rwo' || cur.attachments.some((a) => a.accessMode === 'rwo'))) {
      const holder = writer ?? cur.attachments[0]!;
      throw new PollyError('FAILED_PRECONDITION', `volume ${id} is attached to node ${holder.nodeId} (${holder.accessMode}); it cannot also be attached to ${input.nodeId}`, { heldBy: holder.nodeId });
    }
    const attachment: Attachment = { nodeId: input.nodeId, accessMode, readOnly, attachedAt: ctx.clock.now() };
    return { ...transition(cur, 'attached', ctx.clock.now()), attachments: [...cur.attachments, attachment] };
  }, (before, after) => (claimId !== undefined && before?.claim?.id === claimId && after.claim === undefined ? [{ type: 'delete', key: keys.claim(claimId) }] : []));
}

export async function detachVolume(ctx: CoreContext, caller: Caller, id: string, nodeId: string): Promise<Volume> {
  checkName('nodeId', nodeId);
  return updateVolume(ctx, id, (v) => {
    const cur = assertMaySeeVolume(caller, v, id);
    if (!cur.attachments.some((a) => a.nodeId === nodeId)) return cur;
    const attachments = cur.attachments.filter((a) => a.nodeId !== nodeId);
    const next = attachments.length === 0 && cur.status === 'attached' ? transition(cur, 'available', ctx.clock.now()) : { ...cur, updatedAt: ctx.clock.now() };
    return { ...next, attachments };
  });
}
