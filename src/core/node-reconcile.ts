import type { CoreContext } from './context.js';
import { recordEvent } from './events.js';
import { keys } from './keys.js';
import type { NodeRecord, Volume } from './model.js';
import { intentCutoff, nodeIntents, resolveNodeIntents, waitingIntents } from './node-intents.js';
import { revokeAttachment, type AgentVolume, type NodeService } from './nodes.js';
import { MAX_LIST_LIMIT } from './ports/store.js';
import { loadVolume } from './records.js';

/** What a pass over the nodes found and did (`polly doctor`). */
export interface NodeReconcileReport {
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly nodes: Readonly<Record<string, number>>;
  /** Attachments to fenced nodes revoked (a fence raced an attach). */
  readonly revoked: string[];
  /** Attachments to node ids no agent ever registered (catalog-only; reported, not changed). */
  readonly withoutAgent: string[];
  /** Volumes mounted by an agent that the catalog does not attach to its node: released there. */
  readonly released: string[];
  /** Catalog attachments an agent had lost: mounted again. */
  readonly remounted: string[];
  /** Intents on node pools finished, rolled back or deleted through their agent (see node-intents.ts). */
  readonly intents: { readonly finished: string[]; readonly rolledBack: string[]; readonly deleted: string[] };
  /** Intents on pools of nodes whose agent is away: left alone until it is back (`<id>@<node>`). */
  readonly waiting: string[];
  /** Connected nodes whose mount table could not be read, and intents that could not be settled. */
  readonly errors: string[];
}

/**
 * The node part of the reconciler: attachments whose node is gone or fenced, drift between
 * each connected agent's mount table (read from its kernel) and the catalog, and intents on the
 * pools nodes contribute (settled through connected agents, reported as waiting for the others).
 * Every repair is an event. Attachments still being set up (no mount path yet) are left alone.
 */
export async function reconcileNodes(ctx: CoreContext, nodes: NodeService): Promise<NodeReconcileReport> {
  const startedAt = ctx.clock.now();
  const report = { revoked: [] as string[], withoutAgent: [] as string[], released: [] as string[], remounted: [] as string[], errors: [] as string[] };
  const records = new Map<string, NodeRecord>();
  for (const r of (await ctx.store.list<NodeRecord>(keys.nodes, { limit: MAX_LIST_LIMIT })).records) records.set(r.value.id, r.value);
  const byNode = new Map<string, Volume[]>();
  let after: string | undefined;
  do {
    const page = await ctx.store.list<Volume>(keys.volumes, { limit: 1000, ...(after ? { after } : {}) });
    for (const { value: v } of page.records) for (const a of v.attachments) byNode.set(a.nodeId, [...(byNode.get(a.nodeId) ?? []), v]);
    after = page.next;
  } while (after);

  for (const [nodeId, volumes] of byNode) {
    const node = records.get(nodeId);
    if (!node) {
      report.withoutAgent.push(...volumes.map((v) => `${v.id}@${nodeId}`));
      continue;
    }
    if (node.state !== 'fenced') continue;
    for (const v of volumes) {
      await revokeAttachment(ctx, v.id, nodeId);
      report.revoked.push(`${v.id}@${nodeId}`);
      await recordEvent(ctx, { type: 'reconcile.repair', nodeId, volumeId: v.id, message: `reconciler revoked the attachment of volume ${v.id} to fenced node ${nodeId}`, details: { repair: 'revoke' } });
    }
  }

  for (const nodeId of nodes.channel.connectedNodes()) {
    const node = records.get(nodeId);
    if (!node || node.state !== 'ready') continue;
    const inv = await nodes.dispatch(nodeId, 'inventory', '', {});
    if (!inv.ok) {
      report.errors.push(`${nodeId}: ${inv.error?.message ?? 'no answer'}`);
      continue;
    }
    const found = (inv.result?.['attached'] ?? []) as AgentVolume[];
    const mounted = new Set<string>();
    for (const f of found) {
      const rec = (await loadVolume(ctx, f.backendId))?.value;
      const volume = rec && rec.service === f.service && rec.backendId === f.backendId ? rec : undefined;
      if (volume?.attachments.some((a) => a.nodeId === nodeId)) {
        mounted.add(volume.id);
        continue;
      }
      const label = volume?.id ?? `${f.service}/${f.pool}/${f.backendId}`;
      const res = await nodes.dispatch(nodeId, 'detach', volume?.id ?? f.backendId, { service: f.service, pool: f.pool, backendId: f.backendId, mountPaths: f.mountPaths });
      if (!res.ok) {
        report.errors.push(`${nodeId}: releasing ${label}: ${res.error?.message}`);
        continue;
      }
      report.released.push(`${label}@${nodeId}`);
      await recordEvent(ctx, { type: 'reconcile.repair', nodeId, ...(volume ? { volumeId: volume.id } : {}), message: `reconciler released volume ${label} on node ${nodeId}: mounted there but not attached to it in the catalog`, details: { repair: 'release', mountPaths: f.mountPaths } });
    }
    for (const v of byNode.get(nodeId) ?? []) {
      const a = v.attachments.find((x) => x.nodeId === nodeId)!;
      if (mounted.has(v.id) || a.mountPath === undefined) continue;
      const current = (await loadVolume(ctx, v.id))?.value;
      if (!current?.attachments.some((x) => x.nodeId === nodeId && x.mountPath !== undefined)) continue; // detached meanwhile
      const res = await nodes.dispatch(nodeId, 'attach', v.id, nodes.attachArgs(current, a.readOnly));
      if (!res.ok) {
        report.errors.push(`${nodeId}: mounting ${v.id} again: ${res.error?.message}`);
        continue;
      }
      report.remounted.push(`${v.id}@${nodeId}`);
      await recordEvent(ctx, { type: 'reconcile.repair', nodeId, volumeId: v.id, message: `reconciler mounted volume ${v.id} again on node ${nodeId}: attached in the catalog, missing from the node's mount table`, details: { repair: 'remount' } });
    }
  }

  const intents = { finished: [] as string[], rolledBack: [] as string[], deleted: [] as string[] };
  // Only a connected, ready agent settles its node's intents; the others wait.
  const serving = new Set(nodes.channel.connectedNodes().filter((n) => records.get(n)?.state === 'ready'));
  const pending = await nodeIntents(ctx);
  for (const [nodeId, found] of pending) {
    if (!serving.has(nodeId)) continue;
    const r = await resolveNodeIntents(ctx, nodeId, found, { before: intentCutoff(ctx, nodes) });
    intents.finished.push(...r.finished);
    intents.rolledBack.push(...r.rolledBack);
    intents.deleted.push(...r.deleted);
    report.errors.push(...r.errors.map((e) => `${nodeId}: ${e}`));
  }
  const waiting = waitingIntents(pending, serving);

  const counts: Record<string, number> = {};
  for (const n of records.values()) counts[n.state] = (counts[n.state] ?? 0) + 1;
  return { startedAt, finishedAt: ctx.clock.now(), nodes: counts, ...report, intents, waiting };
}
