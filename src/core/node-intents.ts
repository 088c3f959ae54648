import { serviceOf, type CoreContext } from './context.js';
import { asPollyError } from './errors.js';
import { recordEvent } from './events.js';
import { keys } from './keys.js';
import type { Snapshot, Volume } from './model.js';
import { NODE_POOL_PARAM } from './node-pools.js';
import type { NodeService } from './nodes.js';
import type { StoreRecord } from './ports/store.js';
import { forEachRecord } from './reconciler.js';
import { finishSnapshotDelete } from './snapshots.js';
import { commitCreate, rollbackCreate } from './volume-create.js';
import { finishDelete } from './volumes.js';

/** What one pass over the intents on a node's pools did. */
export interface NodeIntentReport {
  /** Creates (volumes and snapshots) whose backend exists on the node: finished. */
  readonly finished: string[];
  /** Creates whose backend never appeared on the node: rolled back. */
  readonly rolledBack: string[];
  /** Interrupted deletes completed through the node's agent. */
  readonly deleted: string[];
  readonly errors: string[];
}

export interface NodeIntentOptions {
  /**
   * Intents last changed before this time are not running any more in this process (the server
   * started later, or the operation's time limit and the node's lease have passed since). A
   * snapshot delete is resumed at any age: its records go unconditionally, so doing it twice is
   * harmless.
   */
  readonly before: number;
}

/** The intents (`creating`/`deleting` records) on the pools one node contributes. */
export interface NodeIntents {
  readonly volumes: StoreRecord<Volume>[];
  readonly snapshots: StoreRecord<Snapshot>[];
}

/** One walk over volumes and snapshots: the intents on node pools, by owning node. */
export async function nodeIntents(ctx: CoreContext): Promise<Map<string, NodeIntents>> {
  const owner = new Map<string, string>();
  for (const ledger of ctx.ledgers.values()) {
    for (const p of ledger.pools) {
      const node = p.spec.params[NODE_POOL_PARAM];
      if (typeof node === 'string') owner.set(p.id, node);
    }
  }
  const out = new Map<string, NodeIntents>();
  if (owner.size === 0) return out;
  const of = (node: string) => {
    let i = out.get(node);
    if (!i) out.set(node, (i = { volumes: [], snapshots: [] }));
    return i;
  };
  const intent = (r: Volume | Snapshot) => (r.status === 'creating' || r.status === 'deleting' ? owner.get(r.pool) : undefined);
  await forEachRecord<Volume>(ctx, keys.volumes, (r) => {
    const node = intent(r.value);
    if (node !== undefined) of(node).volumes.push(r);
  });
  await forEachRecord<Snapshot>(ctx, keys.snapshots, (r) => {
    const node = intent(r.value);
    if (node !== undefined) of(node).snapshots.push(r);
  });
  return out;
}

/** Ids of intents on pools of nodes whose agent is not serving (away, or not ready yet), as `<id>@<node>`. */
export function waitingIntents(all: ReadonlyMap<string, NodeIntents>, serving: ReadonlySet<string>): string[] {
  return [...all].filter(([node]) => !serving.has(node)).flatMap(([node, i]) => [...i.volumes, ...i.snapshots].map((r) => `${r.value.id}@${node}`));
}

/**
 * Finishes or rolls back the intents left on the pools of a node whose agent is connected, asking
 * the agent what its pools hold: a create whose backend exists is committed, one whose backend is
 * absent is rolled back, a delete is completed. Run when the agent (re)registers and on every
 * node pass of the reconciler; intents of nodes whose agent is away wait (`waitingIntents`).
 * Every repair is an event.
 */
export async function resolveNodeIntents(ctx: CoreContext, nodeId: string, intents: NodeIntents, options: NodeIntentOptions): Promise<NodeIntentReport> {
  const report: NodeIntentReport = { finished: [], rolledBack: [], deleted: [], errors: [] };
  const fail = (what: string, e: unknown) => report.errors.push(`${what}: ${asPollyError(e).message}`);

  // What each pool holds, read through the agent once, only when a create needs it.
  const listings = new Map<string, Promise<Set<string> | undefined>>();
  const present = (service: string, poolId: string, backendId: string): Promise<boolean | undefined> => {
    let listing = listings.get(poolId);
    if (!listing) {
      const { driver, ledger } = serviceOf(ctx, service);
      const pool = ledger.pool(poolId);
      listing = !pool ? Promise.resolve(undefined) : (driver.listIds ? driver.listIds(pool.spec.name) : driver.list(pool.spec.name)).then(
        (entries) => new Set(entries.map((e) => e.backendId)),
        (e: unknown) => void fail(`listing pool ${poolId} on node ${nodeId}`, e),
      );
      listings.set(poolId, listing);
    }
    return listing.then((ids) => ids?.has(backendId));
  };
  const repaired = (id: string, what: string) =>
    recordEvent(ctx, { type: 'reconcile.repair', nodeId, volumeId: id, message: `intent ${id} on a pool of node ${nodeId} ${what} through its agent`, details: { repair: what } });

  for (const { value: v } of intents.volumes) {
    try {
      if (v.status === 'creating' && v.updatedAt < options.before) {
        const there = await present(v.service, v.pool, v.backendId);
        if (there === true) {
          await commitCreate(ctx, v, v.backendId);
          report.finished.push(v.id);
          await repaired(v.id, 'finished');
        } else if (there === false) {
          await rollbackCreate(ctx, v);
          report.rolledBack.push(v.id);
          await repaired(v.id, 'rolled back');
        }
      } else if (v.status === 'deleting' && v.updatedAt < options.before) {
        await finishDelete(ctx, v);
        report.deleted.push(v.id);
        await repaired(v.id, 'deleted');
      }
    } catch (e) {
      fail(`volume ${v.id}`, e);
    }
  }

  for (const { value: s, revision } of intents.snapshots) {
    try {
      if (s.status === 'creating' && s.createdAt < options.before) {
        const there = await present(s.service, s.pool, s.backendId);
        if (there === true) {
          const res = await ctx.store.txn({ compares: [{ key: keys.snapshot(s.id), revision }], ops: [{ type: 'put', key: keys.snapshot(s.id), value: { ...s, status: 'ready' } }] });
          if (res.ok) {
            report.finished.push(s.id);
            await repaired(s.id, 'finished');
          }
        } else if (there === false) {
          await finishSnapshotDelete(ctx, s);
          report.rolledBack.push(s.id);
          await repaired(s.id, 'rolled back');
        }
      } else if (s.status === 'deleting') {
        await finishSnapshotDelete(ctx, s);
        report.deleted.push(s.id);
        await repaired(s.id, 'deleted');
      }
    } catch (e) {
      fail(`snapshot ${s.id}`, e);
    }
  }
  return report;
}

/** The `before` of a node's intents now: what no request of this process can still be running. */
export function intentCutoff(ctx: CoreContext, nodes: NodeService): number {
  return Math.max(nodes.times.startedAt, ctx.clock.now() - nodes.options.operationTimeoutMs - nodes.options.leaseMs);
}

/** After an agent is ready: its node's intents, finished or rolled back; failures are logged (the next node pass retries). */
export async function settleNodeIntents(ctx: CoreContext, nodes: NodeService, nodeId: string): Promise<void> {
  try {
    const intents = (await nodeIntents(ctx)).get(nodeId);
    if (!intents) return;
    const r = await resolveNodeIntents(ctx, nodeId, intents, { before: intentCutoff(ctx, nodes) });
    const done = r.finished.length + r.rolledBack.length + r.deleted.length;
    if (done + r.errors.length > 0) ctx.logger.info({ nodeId, ...r }, 'intents on the pools of a returning node settled');
  } catch (err) {
    ctx.logger.warn({ err, nodeId }, 'settling the intents of a node failed; the next reconcile pass retries');
  }
}
