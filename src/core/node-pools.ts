import { refreshCapacity } from './catalog.js';
import { serviceOf, type CoreContext } from './context.js';
import { PollyError } from './errors.js';
import { keys } from './keys.js';
import type { NodePool, NodeRecord, PoolSpec } from './model.js';
import type { PoolState } from './pool-state.js';
import { MAX_LIST_LIMIT } from './ports/store.js';

/** PoolSpec.params marker of a pool an agent contributed: the value is the owning node's id. */
export const NODE_POOL_PARAM = 'contributedBy';

/**
 * Onboarding: pools an agent contributes from its own configuration join their service's ledger
 * (so they show in `pool ls` and placement at once). The service must exist on the server; the
 * pool is node-local (`node` = the agent's node) and the volume work on it is done by that agent.
 */
export async function addNodePools(ctx: CoreContext, nodeId: string, pools: readonly NodePool[]): Promise<void> {
  for (const p of pools) await addNodePool(ctx, nodeId, p);
}

async function addNodePool(ctx: CoreContext, nodeId: string, p: NodePool): Promise<PoolState> {
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
  return ledger.addPool(spec); // its live capacity is read once the agent is connected (refreshNodePools)
}

/**
 * At server start: the pools every registered node contributed join their ledgers again, from
 * the node records, owned by their node and with no capacity until its agent answers. So the
 * volumes and intents on them stay served by their node (an agent that is away answers
 * UNAVAILABLE; nothing falls through to the service's own driver or is dropped unasked), and the
 * pools show in `pool ls` at once. A pool that cannot join (its service is gone from the
 * configuration, or the name is now a configured pool) is logged and left out.
 */
export async function restoreNodePools(ctx: CoreContext): Promise<void> {
  let after: string | undefined;
  do {
    const page = await ctx.store.list<NodeRecord>(keys.nodes, { limit: MAX_LIST_LIMIT, ...(after ? { after } : {}) });
    for (const { value: node } of page.records) await joinStoredPools(ctx, node);
    after = page.next;
  } while (after !== undefined);
}

/** Whether this process's ledger already has the node's pool. */
function hasNodePool(ctx: CoreContext, nodeId: string, p: NodePool): boolean {
  return ctx.ledgers.get(p.service)?.pools.some((x) => x.spec.name === p.name && x.spec.params[NODE_POOL_PARAM] === nodeId) === true;
}

/**
 * The pools of a node record this process does not know yet join their ledgers, owned by their
 * node and with no capacity (here) until its agent answers this process.
 */
async function joinStoredPools(ctx: CoreContext, node: NodeRecord): Promise<void> {
  for (const p of node.pools ?? []) {
    if (hasNodePool(ctx, node.id, p)) continue;
    try {
      const state = await addNodePool(ctx, node.id, p);
      state.totalBytes = 0; // nothing is placed on it or offered until its agent reports its capacity
      state.backendFreeBytes = 0;
    } catch (e) {
      ctx.logger.warn({ err: e, nodeId: node.id, pool: `${p.service}/${p.name}` }, 'a pool of a registered node cannot join its service');
    }
  }
}

/**
 * With replicas: a node that registers with another replica records its pools there; this
 * process learns them from the catalog watch (each node record written, by any replica), so a
 * volume on such a pool is never handled as if its pool were unknown — its work goes to its node
 * (UNAVAILABLE here while that node's agent is connected elsewhere), never a removal that skips
 * the backend. Returns what to call with each node record the watch sees.
 */
export function nodePoolFollower(ctx: CoreContext): (node: NodeRecord) => void {
  let chain = Promise.resolve();
  return (node) => {
    // Heartbeats rewrite node records all the time: only a pool this process lacks costs work.
    if ((node.pools ?? []).every((p) => hasNodePool(ctx, node.id, p))) return;
    chain = chain.then(() => joinStoredPools(ctx, node)).catch((e: unknown) => ctx.logger.warn({ err: e, nodeId: node.id }, 'the pools of a node record cannot join'));
  };
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
