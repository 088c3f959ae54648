import type { FilterPlugin } from '../types.js';

/** A volume asking for IOPS needs a pool that can give at least that many. */
export const iopsFilter: FilterPlugin = {
  name: 'iops',
  filter(ctx, pool) {
    const iops = ctx.request.iops;
    if (iops <= 0 || iops <= pool.spec.maxIops) return undefined;
    return pool.spec.maxIops === 0 ? `offers no IOPS guarantee, ${iops} asked` : `gives at most ${pool.spec.maxIops} IOPS, ${iops} asked`;
  },
};
