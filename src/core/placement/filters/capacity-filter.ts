import { formatBytes } from '../../units.js';
import { availableBytes, type FilterPlugin } from '../types.js';

/** The pool must have room for the volume after reservations, with its overcommit ratio. */
export const capacityFilter: FilterPlugin = {
  name: 'capacity',
  dynamic: true,
  filter(ctx, pool) {
    const free = availableBytes(pool);
    if (ctx.request.sizeBytes <= free) return undefined;
    return `needs ${formatBytes(ctx.request.sizeBytes)}, ${formatBytes(free)} free`;
  },
};
