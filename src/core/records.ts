import { PollyError } from './errors.js';
import type { CoreContext } from './context.js';
import { keys } from './keys.js';
import type { Snapshot, Volume } from './model.js';
import type { StoreRecord, TxnOp } from './ports/store.js';

export async function loadVolume(ctx: CoreContext, id: string): Promise<StoreRecord<Volume> | undefined> {
  if (!id || id.length > 200 || id.includes('\0')) return undefined;
  return ctx.store.get<Volume>(keys.volume(id));
}

export async function loadSnapshot(ctx: CoreContext, id: string): Promise<StoreRecord<Snapshot> | undefined> {
  if (!id || id.length > 200 || id.includes('\0')) return undefined;
  return ctx.store.get<Snapshot>(keys.snapshot(id));
}

/**
 * Read-modify-write of one volume record, guarded by its revision and retried when another
 * writer got there first. `mutate` sees the current record and returns the new one (or throws);
 * `extraOps(current, next)` are written in the same transaction.
 */
export async function updateVolume(
  ctx: CoreContext,
  id: string,
  mutate: (current: Volume | undefined) => Volume,
  extraOps: (current: Volume | undefined, next: Volume) => readonly TxnOp[] = () => [],
): Promise<Volume> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const rec = await loadVolume(ctx, id);
    const next = mutate(rec?.value);
    const res = await ctx.store.txn({
      compares: [{ key: keys.volume(id), revision: rec?.revision ?? 0 }],
      ops: [{ type: 'put', key: keys.volume(id), value: next }, ...extraOps(rec?.value, next)],
    });
    if (res.ok) return next;
  }
  throw new PollyError('UNAVAILABLE', `volume ${id} is changing too often; retry`, { volumeId: id }, { retryable: true });
}

export async function putSnapshot(ctx: CoreContext, snap: Snapshot, revision: number): Promise<boolean> {
  const res = await ctx.store.txn({
    compares: [{ key: keys.snapshot(snap.id), revision }],
    ops: [{ type: 'put', key: keys.snapshot(snap.id), value: snap }],
  });
  return res.ok;
}
