import { assertMaySeeVolume, maySeeSnapshot, mayUseService } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid, notFound } from './errors.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import type { Caller, Labels, Snapshot } from './model.js';
import { checkLabels, checkName } from './names.js';
import type { OperationOptions } from './ports/storage-driver.js';
import { MAX_LIST_LIMIT } from './ports/store.js';
import { loadSnapshot, loadVolume } from './records.js';
import { decodeCursor, encodeCursor, type Page } from './volumes.js';

export interface CreateSnapshotInput {
  readonly volumeId: string;
  readonly name: string;
  readonly labels?: Labels;
}

/** Snapshot = intent record → driver copy → ready. Same name and volume again returns it. */
export async function createSnapshot(ctx: CoreContext, caller: Caller, input: CreateSnapshotInput, options: OperationOptions = {}): Promise<{ snapshot: Snapshot; created: boolean }> {
  checkName('name', input.name);
  const labels = checkLabels('labels', input.labels);
  const volume = assertMaySeeVolume(caller, (await loadVolume(ctx, input.volumeId))?.value, input.volumeId);
  const { driver, ledger } = serviceOf(ctx, volume.service);
  if (!driver.capabilities.snapshot) throw new PollyError('UNSUPPORTED', `the ${driver.name} driver of service ${volume.service} cannot snapshot`);
  const nameKey = keys.snapshotName(volume.service, input.name);
  const existing = await ctx.store.get<{ id: string }>(nameKey);
  if (existing) {
    const snap = (await loadSnapshot(ctx, existing.value.id))?.value;
    if (snap && snap.volumeId === volume.id) {
      if (snap.status !== 'ready') throw new PollyError('IN_PROGRESS', `snapshot ${input.name} is ${snap.status}; retry`, { snapshotId: snap.id });
      return { snapshot: snap, created: false };
    }
    throw new PollyError('ALREADY_EXISTS', `a snapshot named ${input.name} already exists in service ${volume.service} for another volume`, { name: input.name });
  }
  if (volume.status !== 'available' && volume.status !== 'attached') {
    throw new PollyError('FAILED_PRECONDITION', `volume ${volume.id} is ${volume.status}; it cannot be snapshotted now`);
  }
  const now = ctx.clock.now();
  const intent: Snapshot = {
    id: newId('snap'), name: input.name, service: volume.service, pool: volume.pool, backendId: '',
    volumeId: volume.id, sizeBytes: volume.sizeBytes, status: 'creating', labels,
    ...(caller.kind === 'scheduler' ? { createdBy: caller.name } : {}), createdAt: now,
  };
  const withBackend = { ...intent, backendId: intent.id };
  const res = await ctx.store.txn({
    compares: [{ key: nameKey, revision: 0 }],
    ops: [
      { type: 'put', key: keys.snapshot(intent.id), value: withBackend },
      { type: 'put', key: nameKey, value: { id: intent.id } },
    ],
  });
  if (!res.ok) throw new PollyError('IN_PROGRESS', `snapshot name ${input.name} was taken meanwhile; retry`, { name: input.name });
  const poolName = ledger.pool(volume.pool)?.spec.name;
  if (!poolName) throw new PollyError('INTERNAL', `pool ${volume.pool} of volume ${volume.id} is not configured`);
  try {
    const made = await driver.snapshot(intent.id, { pool: poolName, backendId: volume.backendId }, options);
    const ready: Snapshot = { ...withBackend, backendId: made.backendId, status: 'ready' };
    await ctx.store.txn({ compares: [], ops: [{ type: 'put', key: keys.snapshot(intent.id), value: ready }] });
    ctx.logger.info({ snapshotId: intent.id, volumeId: volume.id }, 'snapshot created');
    return { snapshot: ready, created: true };
  } catch (e) {
    await driver.deleteSnapshot({ pool: poolName, backendId: intent.id }).catch(() => undefined);
    await ctx.store.txn({ compares: [], ops: [{ type: 'delete', key: keys.snapshot(intent.id) }, { type: 'delete', key: nameKey }] });
    throw backendError(`snapshotting volume ${volume.id}`, e);
  }
}

async function visibleSnapshot(ctx: CoreContext, caller: Caller, id: string): Promise<Snapshot> {
  const snap = (await loadSnapshot(ctx, id))?.value;
  if (!snap) throw notFound('snapshot', id);
  if (caller.kind !== 'admin') {
    const source = (await loadVolume(ctx, snap.volumeId))?.value;
    if (!maySeeSnapshot(caller, snap, source)) throw notFound('snapshot', id);
  }
  return snap;
}

export const getSnapshot = visibleSnapshot;

export async function deleteSnapshot(ctx: CoreContext, caller: Caller, id: string): Promise<Snapshot> {
  const snap = await visibleSnapshot(ctx, caller, id);
  if (snap.status === 'creating') throw new PollyError('IN_PROGRESS', `snapshot ${id} is still being created; retry`);
  await ctx.store.txn({ compares: [], ops: [{ type: 'put', key: keys.snapshot(id), value: { ...snap, status: 'deleting' } }] });
  await finishSnapshotDelete(ctx, snap);
  return snap;
}

export async function finishSnapshotDelete(ctx: CoreContext, snap: Snapshot): Promise<void> {
  const { driver, ledger } = serviceOf(ctx, snap.service);
  const pool = ledger.pool(snap.pool);
  try {
    if (pool) await driver.deleteSnapshot({ pool: pool.spec.name, backendId: snap.backendId });
  } catch (e) {
    throw backendError(`deleting snapshot ${snap.id}`, e);
  }
  await ctx.store.txn({
    compares: [],
    ops: [{ type: 'delete', key: keys.snapshot(snap.id) }, { type: 'delete', key: keys.snapshotName(snap.service, snap.name) }],
  });
}

export interface SnapshotFilter {
  readonly service?: string;
  readonly volumeId?: string;
}

export async function listSnapshots(ctx: CoreContext, caller: Caller, filter: SnapshotFilter, limit = 500, cursor?: string): Promise<Page<Snapshot>> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw invalid('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  let after = cursor === undefined ? undefined : decodeCursor(cursor, keys.snapshots);
  const items: Snapshot[] = [];
  const sources = new Map<string, boolean>();
  const visible = async (s: Snapshot): Promise<boolean> => {
    if (caller.kind === 'admin') return true;
    if (!mayUseService(caller, s.service)) return false;
    if (!sources.has(s.volumeId)) sources.set(s.volumeId, maySeeSnapshot(caller, s, (await loadVolume(ctx, s.volumeId))?.value));
    return s.createdBy === caller.name || sources.get(s.volumeId)!;
  };
  for (;;) {
    const page = await ctx.store.list<Snapshot>(keys.snapshots, { limit: 1000, ...(after !== undefined ? { after } : {}) });
    for (const r of page.records) {
      after = r.key;
      const s = r.value;
      if (filter.service !== undefined && s.service !== filter.service) continue;
      if (filter.volumeId !== undefined && s.volumeId !== filter.volumeId) continue;
      if (!(await visible(s))) continue;
      items.push(s);
      if (items.length === limit) {
        const more = r !== page.records[page.records.length - 1] || page.next !== undefined;
        return more ? { items, next: encodeCursor(r.key) } : { items };
      }
    }
    if (page.next === undefined) return { items };
  }
}
