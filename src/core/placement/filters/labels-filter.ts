import type { FilterPlugin } from '../types.js';

/** Every required label must be on the pool with the same value. */
export const labelsFilter: FilterPlugin = {
  name: 'labels',
  filter(ctx, pool) {
    for (const key in ctx.request.requiredLabels) {
      const want = ctx.request.requiredLabels[key];
      const have = pool.spec.labels[key];
      if (have !== want) return `label ${key}=${have ?? '(unset)'}, wanted ${want}`;
    }
    return undefined;
  },
};
