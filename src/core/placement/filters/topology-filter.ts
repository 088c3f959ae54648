import type { FilterPlugin } from '../types.js';

/** Matches the reasons this filter gives (a pool in the wrong place, not a full one). */
export const TOPOLOGY_REASON = /^is (in zone|on node) /;

/** Zone and node constraints (CSI accessibility requirements land here too). */
export const topologyFilter: FilterPlugin = {
  name: 'topology',
  filter(ctx, pool) {
    const { zones, nodes } = ctx.request;
    if (zones.length > 0 && (pool.spec.zone === undefined || !zones.includes(pool.spec.zone))) {
      return `is in zone ${pool.spec.zone ?? '(none)'}, wanted ${zones.join(' or ')}`;
    }
    if (nodes.length > 0 && pool.spec.node !== undefined && !nodes.includes(pool.spec.node)) {
      return `is on node ${pool.spec.node}, wanted ${nodes.join(' or ')}`;
    }
    return undefined;
  },
};
