import type { ScorePlugin } from '../types.js';

/** Prefers zones holding fewer of the service's volumes, so a service spreads across zones. */
export const zoneSpread: ScorePlugin = {
  name: 'zone-spread',
  score(ctx, pool) {
    if (ctx.zoneVolumes.size < 2 || pool.spec.zone === undefined) return 50;
    let max = 0;
    for (const n of ctx.zoneVolumes.values()) if (n > max) max = n;
    if (max === 0) return 100;
    return 100 - ((ctx.zoneVolumes.get(pool.spec.zone) ?? 0) / max) * 100;
  },
};
