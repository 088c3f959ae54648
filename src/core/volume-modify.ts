import { assertMaySeeVolume } from './access.js';
import { serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid } from './errors.js';
import type { Caller, Volume } from './model.js';
import { updateVolume } from './records.js';

export interface ModifyVolumeInput {
  /** New IOPS guarantee (0 = none); the volume's pool must give at least that many. */
  readonly iops?: number;
}

/**
 * Changes the mutable properties of a volume in place (today: its IOPS). Nothing is changed
 * when a value is refused; asking for what the volume already has is not an error.
 */
export async function modifyVolume(ctx: CoreContext, caller: Caller, id: string, input: ModifyVolumeInput): Promise<Volume> {
  const { iops } = input;
  if (iops !== undefined && (!Number.isSafeInteger(iops) || iops < 0)) throw invalid('iops', 'must be a non-negative integer');
  return updateVolume(ctx, id, (v) => {
    const cur = assertMaySeeVolume(caller, v, id);
    if (cur.status !== 'available' && cur.status !== 'attached') {
      throw new PollyError(cur.status === 'error' ? 'FAILED_PRECONDITION' : 'IN_PROGRESS', `volume ${id} is ${cur.status}; it cannot be modified now`, { volumeId: id });
    }
    if (iops === undefined || iops === cur.iops) return cur;
    const pool = serviceOf(ctx, cur.service).ledger.pool(cur.pool);
    const maxIops = pool?.spec.maxIops ?? 0;
    if (iops > maxIops) {
      throw invalid('iops', maxIops === 0 ? `pool ${cur.pool} of volume ${id} offers no IOPS guarantee` : `pool ${cur.pool} of volume ${id} gives at most ${maxIops} IOPS, ${iops} asked`, { maxIops });
    }
    return { ...cur, iops, updatedAt: ctx.clock.now() };
  });
}
