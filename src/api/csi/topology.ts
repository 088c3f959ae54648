import { PollyError } from '../../core/errors.js';

/**
 * Topology segments Polly speaks: a pool's zone and (for node-local pools) its node. NodeGetInfo
 * reports the node's segment; CreateVolume turns requisite segments into placement constraints
 * and reports the pool's segment back as accessible_topology.
 */
export const ZONE_KEY = 'topology.polly.io/zone';
export const NODE_KEY = 'topology.polly.io/node';

export interface Segment {
  readonly segments: Record<string, string>;
}

export interface PoolTopology {
  readonly zone?: string;
  readonly node?: string;
}

/** The accessible_topology of a volume in a pool ([] = accessible from every node). */
export function topologyOf(pool: PoolTopology | undefined): Segment[] {
  const segments: Record<string, string> = {};
  if (pool?.zone !== undefined) segments[ZONE_KEY] = pool.zone;
  if (pool?.node !== undefined) segments[NODE_KEY] = pool.node;
  return Object.keys(segments).length === 0 ? [] : [{ segments }];
}

/** Zones and nodes named by a list of topologies (unknown keys are refused). */
export function constraintsOf(field: string, topologies: readonly { segments?: Record<string, string> }[]): { zones: string[]; nodes: string[] } {
  const zones = new Set<string>();
  const nodes = new Set<string>();
  topologies.forEach((t, i) => {
    for (const [k, v] of Object.entries(t.segments ?? {})) {
      if (k === ZONE_KEY) zones.add(v);
      else if (k === NODE_KEY) nodes.add(v);
      else throw new PollyError('INVALID_ARGUMENT', `${field}[${i}].segments: unknown topology key ${JSON.stringify(k)}; Polly knows ${ZONE_KEY} and ${NODE_KEY}`, { field });
    }
  });
  return { zones: [...zones], nodes: [...nodes] };
}
