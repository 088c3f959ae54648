import type { FilterPlugin } from '../types.js';

/** A typed request needs a pool offering that type; an untyped one an untyped pool or any. */
export const typeFilter: FilterPlugin = {
  name: 'type',
  filter(ctx, pool) {
    const type = ctx.request.type;
    if (type === undefined) return undefined;
    if (pool.spec.types.includes(type)) return undefined;
    return pool.spec.types.length === 0
      ? `offers no volume types, "${type}" asked`
      : `offers types ${pool.spec.types.join(', ')}, not "${type}"`;
  },
};
