import { availableBytes, type ScorePlugin } from '../types.js';

/** Prefers the pool with the largest share of its capacity still free after this volume. */
export const leastAllocated: ScorePlugin = {
  name: 'least-allocated',
  score(ctx, pool) {
    const capacity = pool.totalBytes * pool.spec.overcommit;
    if (capacity <= 0) return 0;
    const left = availableBytes(pool) - ctx.request.sizeBytes;
    return Math.max(0, Math.min(100, (left / capacity) * 100));
  },
};
