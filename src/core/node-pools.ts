import { refreshCapacity } from './catalog.js';
import { serviceOf, type CoreContext } from './context.js';
import { PollyError } from './errors.js';
import type { NodePool, PoolSpec } from './model.js';

/** PoolSpec.params marker of a pool an agent contributed: the value is the owning node's id. */
export const NODE_POOL_PARAM = 'contributedBy';

/**
 * Onboarding: pools an agent contributes from its own configuration join their service's ledger
 * (so they show in `pool ls` and placement at once). The service must exist on the server; the
 * pool is node-local (`node` = the agent's node) and the volume work on it is done by that agent.
 */
export async function addNodePools(ctx: CoreContext, nodeId: string, pools: readonly NodePool[]): Promise<void> {
  for (const p of pools) {
    const { ledger } = serviceOf(ctx, p.service);
    const configured = ledger.pools.find((x) => x.spec.name === p.name);
    if (configured && configured.spec.params[NODE_POOL_PARAM] !== nodeId) {
      throw new PollyError('ALREADY_EXISTS', `service ${p.service} already has a pool ${p.name}${configured.spec.node ? ` of node ${configured.spec.node}` : ''}; name the node's pool differently`, { service: p.service, pool: p.name });
    }
    const spec: PoolSpec = {
      name: p.name, ...(p.capacityBytes === undefined ? {} : { capacityBytes: p.capacityBytes }), overcommit: 1,
      ...(p.zone === undefined ? {} : { zone: p.zone }), node: nodeId, types: p.types, labels: p.labels, maxIops: 0,
      params: { [NODE_POOL_PARAM]: nodeId },
    };
    await ledger.addPool(spec); // its live capacity is read once the agent is connected (refreshNodePools)
  }
}

/** Reads the live capacity of a node's contributed pools through its agent. */
export function refreshNodePools(ctx: CoreContext, nodeId: string): Promise<void> {
  return refreshCapacity(ctx, (pool) => pool.spec.params[NODE_POOL_PARAM] === nodeId);
}

/** The node owning a contributed pool of a service, or undefined for a server-side pool. */
export function nodeOfPool(ctx: CoreContext, service: string, pool: string): string | undefined {
  const ledger = ctx.ledgers.get(service);
  const state = ledger?.pools.find((p) => p.spec.name === pool);
  const owner = state?.spec.params[NODE_POOL_PARAM];
  return typeof owner === 'string' ? owner : undefined;
}
