import type { FilterPlugin } from '../types.js';

/** The pool must belong to the requested service (and to the requested pool list, if any). */
export const serviceFilter: FilterPlugin = {
  name: 'service',
  filter(ctx, pool) {
    if (pool.service !== ctx.request.service) return `belongs to service ${pool.service}`;
    const only = ctx.request.pools;
    if (only && !only.includes(pool.id)) return 'does not hold the source of the new volume';
    return undefined;
  },
};
