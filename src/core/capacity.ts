import { assertMayUseService } from './access.js';
import { serviceOf, type CoreContext } from './context.js';
import type { Caller, Labels } from './model.js';
import { checkLabels, checkName } from './names.js';
import { availableBytes, type PlacementRequest } from './placement/types.js';
import { invalid } from './errors.js';

export interface CapacityQuery {
  readonly service: string;
  readonly type?: string;
  readonly iops?: number;
  readonly zones?: readonly string[];
  readonly nodes?: readonly string[];
  readonly poolLabels?: Labels;
}

export interface CapacityAnswer {
  /** Bytes new volumes of this shape could still take, over every pool that fits them. */
  readonly availableBytes: number;
  /** The largest single volume of this shape that fits now (one pool, within the quota). */
  readonly maximumVolumeBytes: number;
  /** Pools that fit the shape (whatever their free space). */
  readonly pools: readonly string[];
}

/**
 * What placement would give volumes of a shape (service, type, IOPS, topology, pool labels):
 * every configured filter but capacity runs over the service's pools, exactly as for a create,
 * and the free bytes of those that pass are added up. The service's byte quota caps both figures.
 */
export function capacityFor(ctx: CoreContext, caller: Caller, query: CapacityQuery): CapacityAnswer {
  checkName('service', query.service);
  const { spec, ledger } = serviceOf(ctx, query.service);
  assertMayUseService(caller, query.service);
  const iops = query.iops ?? 0;
  if (!Number.isSafeInteger(iops) || iops < 0) throw invalid('iops', 'must be a non-negative integer');
  const type = query.type ?? spec.defaultType;
  if (type !== undefined) checkName('type', type);
  for (const z of query.zones ?? []) checkName('zones', z);
  for (const n of query.nodes ?? []) checkName('nodes', n);
  const request: PlacementRequest = {
    service: spec.name, sizeBytes: 0, iops, zones: query.zones ?? [], nodes: query.nodes ?? [],
    requiredLabels: checkLabels('poolLabels', query.poolLabels), ...(type !== undefined ? { type } : {}),
  };
  let total = 0;
  let largest = 0;
  const pools: string[] = [];
  for (const pool of ledger.pools) {
    if (ctx.placement.verdict(request, pool, ledger.zoneVolumes) !== undefined) continue;
    const free = availableBytes(pool);
    pools.push(pool.id);
    total += free;
    largest = Math.max(largest, free);
  }
  const quotaLeft = spec.quota.maxBytes === undefined ? Infinity : Math.max(0, spec.quota.maxBytes - ledger.usage.bytes);
  const volumesLeft = spec.quota.maxVolumes === undefined ? Infinity : Math.max(0, spec.quota.maxVolumes - ledger.usage.volumes);
  const cap = volumesLeft === 0 ? 0 : quotaLeft;
  return { availableBytes: Math.min(total, cap), maximumVolumeBytes: Math.min(largest, cap), pools };
}
