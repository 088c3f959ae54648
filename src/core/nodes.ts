import { assertAdmin, assertMaySeeVolume } from './access.js';
import { serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid, notFound } from './errors.js';
import { recordEvent } from './events.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import { ADMIN, type Caller, type Labels, type NodePool, type NodeRecord, type NodeState, type Volume } from './model.js';
import { checkLabels, checkName } from './names.js';
import { fenceDeadline, leaseDeadline, leaseTransition, type LeaseTimes } from './node-lease.js';
import type { NodeChannel, NodeOperation, NodeOperationResult } from './ports/node-channel.js';
import { MAX_LIST_LIMIT } from './ports/store.js';
import { loadVolume, updateVolume } from './records.js';
import { attachToNode, detachFromNode } from './controller-publish.js';
import { detachVolume, type AttachInput } from './volumes.js';
import { addNodePools, refreshNodePools } from './node-pools.js';
import { settleNodeIntents } from './node-intents.js';

export interface NodeOptions {
  /** Lease of a node, renewed by every heartbeat. */
  readonly leaseMs: number;
  /** Time an unreachable node has before it is fenced. */
  readonly graceMs: number;
  /** Time limit of one node-side operation. */
  readonly operationTimeoutMs: number;
}

export const DEFAULT_NODE_OPTIONS: NodeOptions = { leaseMs: 10_000, graceMs: 5_000, operationTimeoutMs: 60_000 };

/** What an agent says about itself when it connects. */
export interface AgentHello {
  readonly nodeId: string;
  readonly labels: Labels;
  readonly pools: readonly NodePool[];
  readonly devices: readonly string[];
  readonly version: string;
  readonly inProcess: boolean;
}

/** A volume the agent found attached or mounted on its node (read from the kernel). */
export interface AgentVolume {
  readonly service: string;
  readonly pool: string;
  readonly backendId: string;
  readonly devicePath?: string;
  readonly mountPaths: readonly string[];
}

/** A node as the API shows it: the record, whether its agent is connected, and its volumes. */
export interface NodeView extends NodeRecord {
  readonly connected: boolean;
  readonly leaseExpiresAt: number;
  readonly fenceAt: number;
  readonly volumes?: readonly { readonly id: string; readonly name: string; readonly service: string; readonly readOnly: boolean; readonly mountPath?: string }[];
}

/** The result of an agent's start-up reconciliation. */
export interface AgentReconcileResult {
  readonly released: readonly string[];
  readonly repaired: readonly string[];
}

const MAX_NODE_POOLS = 64;
const MAX_DEVICES = 256;

/**
 * Nodes and their agents: registration, leases renewed by heartbeats, fencing of nodes whose
 * lease ran out (their attachments are revoked so RWO volumes may attach elsewhere), the return
 * of a fenced node (it releases what it lost before it is ready), and attach/detach dispatched to
 * the node's agent through the NodeChannel.
 *
 * Safety rule: the catalog never holds two writable attachments of an RWO volume (attachVolume
 * checks it in the same revision-guarded write), and an attachment leaves the catalog only after
 * its node released the volume or the node was fenced.
 */
export class NodeService {
  readonly times: LeaseTimes;

  constructor(
    private readonly ctx: CoreContext,
    readonly channel: NodeChannel,
    readonly options: NodeOptions,
  ) {
    this.times = { graceMs: options.graceMs, startedAt: ctx.clock.now() };
  }

  // -------------------------------------------------------------------------------------------
  // records

  async getRecord(id: string) {
    return this.ctx.store.get<NodeRecord>(keys.node(id));
  }

  /** Read-modify-write of a node record guarded by its revision. */
  private async updateNode(id: string, mutate: (cur: NodeRecord | undefined) => NodeRecord | undefined): Promise<NodeRecord | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const rec = await this.getRecord(id);
      const next = mutate(rec?.value);
      if (next === undefined || next === rec?.value) return rec?.value;
      const res = await this.ctx.store.txn({
        compares: [{ key: keys.node(id), revision: rec?.revision ?? 0 }],
        ops: [{ type: 'put', key: keys.node(id), value: next }],
      });
      if (res.ok) return next;
    }
    throw new PollyError('UNAVAILABLE', `node ${id} is changing too often; retry`, { nodeId: id }, { retryable: true });
  }

  private async allNodes(): Promise<NodeRecord[]> {
    const out: NodeRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.ctx.store.list<NodeRecord>(keys.nodes, { limit: MAX_LIST_LIMIT, ...(after ? { after } : {}) });
      out.push(...page.records.map((r) => r.value));
      if (page.next === undefined) return out;
      after = page.next;
    }
  }

  /** Every volume with an attachment to the node (a catalog scan). */
  async volumesOn(nodeId: string): Promise<Volume[]> {
    const out: Volume[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.ctx.store.list<Volume>(keys.volumes, { limit: MAX_LIST_LIMIT, ...(after ? { after } : {}) });
      for (const r of page.records) if (r.value.attachments.some((a) => a.nodeId === nodeId)) out.push(r.value);
      if (page.next === undefined) return out;
      after = page.next;
    }
  }

  private view(node: NodeRecord, volumes?: Volume[]): NodeView {
    return {
      ...node,
      connected: this.channel.connectedNodes().includes(node.id),
      leaseExpiresAt: leaseDeadline(node, this.times),
      fenceAt: fenceDeadline(node, this.times),
      ...(volumes === undefined ? {} : {
        volumes: volumes.map((v) => {
          const a = v.attachments.find((x) => x.nodeId === node.id)!;
          return { id: v.id, name: v.name, service: v.service, readOnly: a.readOnly, ...(a.mountPath === undefined ? {} : { mountPath: a.mountPath }) };
        }),
      }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // agents: registration, heartbeats, return after a fence

  /**
   * An agent connected. The node is `recovering` until the agent reported what its kernel holds
   * and released what the catalog no longer gives it (see reconcileAgent).
   */
  async register(hello: AgentHello): Promise<NodeRecord> {
    checkName('nodeId', hello.nodeId);
    const labels = checkLabels('labels', hello.labels);
    const pools = checkNodePools(hello.pools);
    if (!Array.isArray(hello.devices) || hello.devices.length > MAX_DEVICES || hello.devices.some((d) => typeof d !== 'string' || d.length > 4096)) {
      throw invalid('devices', `must be a list of at most ${MAX_DEVICES} paths`);
    }
    await addNodePools(this.ctx, hello.nodeId, pools);
    const now = this.ctx.clock.now();
    let previous: NodeState | undefined;
    const node = await this.updateNode(hello.nodeId, (cur) => {
      previous = cur?.state;
      return {
        id: hello.nodeId, labels, state: 'recovering', cordoned: cur?.cordoned ?? false, pools, devices: [...hello.devices],
        agentVersion: String(hello.version).slice(0, 64), inProcess: hello.inProcess,
        registeredAt: now, renewedAt: now, leaseMs: this.options.leaseMs, fencedVolumes: cur?.fencedVolumes ?? [], updatedAt: now,
      };
    });
    await recordEvent(this.ctx, {
      type: 'node.registered', nodeId: hello.nodeId,
      message: `node ${hello.nodeId} registered${previous ? ` (was ${previous})` : ''}${pools.length ? ` with pools ${pools.map((p) => `${p.service}/${p.name}`).join(', ')}` : ''}`,
      details: { previous: previous ?? null, labels, pools: pools.map((p) => `${p.service}/${p.name}`) },
    });
    return node!;
  }

  /**
   * After registration: the agent reported the volumes its kernel holds. Volumes the catalog does
   * not attach to this node (revoked by a fence, detached meanwhile, unknown) are released on the
   * node first; catalog attachments the node lost (e.g. a reboot) are mounted again. Then the
   * node is `ready`. Throws (and the node stays `recovering`) when a release fails.
   */
  async reconcileAgent(nodeId: string, reported: readonly AgentVolume[]): Promise<AgentReconcileResult> {
    const found = checkReport(reported);
    const catalog = await this.volumesOn(nodeId);
    const attachedHere = new Map(catalog.map((v) => [v.id, v]));
    const released: string[] = [];
    const failures: string[] = [];
    const present = new Set<string>();
    for (const f of found) {
      const record = (await loadVolume(this.ctx, f.backendId))?.value;
      const volume = record && record.service === f.service && record.backendId === f.backendId ? record : undefined;
      if (volume && attachedHere.has(volume.id)) {
        present.add(volume.id);
        continue;
      }
      const label = volume?.id ?? `${f.service}/${f.pool}/${f.backendId}`;
      const res = await this.dispatch(nodeId, 'detach', volume?.id ?? f.backendId, { service: f.service, pool: f.pool, backendId: f.backendId, mountPaths: f.mountPaths });
      if (!res.ok) {
        failures.push(`${label}: ${res.error?.message ?? 'failed'}`);
        continue;
      }
      released.push(label);
      await recordEvent(this.ctx, {
        type: 'volume.released', nodeId, ...(volume ? { volumeId: volume.id } : {}),
        message: `node ${nodeId} released volume ${label}: the catalog does not attach it to this node${volume?.attachments.length ? ` (held by ${volume.attachments.map((a) => a.nodeId).join(', ')})` : ''}`,
        details: { mountPaths: f.mountPaths },
      });
    }
    if (failures.length > 0) {
      throw new PollyError('FAILED_PRECONDITION', `node ${nodeId} could not release ${failures.length} volume(s) it no longer holds: ${failures.join('; ')}`, { nodeId, failures });
    }
    const repaired: string[] = [];
    for (const v of catalog) {
      if (present.has(v.id)) continue;
      const a = v.attachments.find((x) => x.nodeId === nodeId)!;
      const res = await this.dispatch(nodeId, 'attach', v.id, this.attachArgs(v, a.readOnly));
      if (!res.ok) {
        await recordEvent(this.ctx, { type: 'reconcile.repair', nodeId, volumeId: v.id, message: `node ${nodeId} could not mount volume ${v.id} again: ${res.error?.message}`, details: { ok: false } });
        continue;
      }
      repaired.push(v.id);
      await recordEvent(this.ctx, { type: 'reconcile.repair', nodeId, volumeId: v.id, message: `node ${nodeId} mounted volume ${v.id} again (attached in the catalog, missing on the node)`, details: { ok: true, ...res.result } });
    }
    await refreshNodePools(this.ctx, nodeId);
    const node = await this.updateNode(nodeId, (cur) => {
      if (!cur || cur.state === 'fenced') return cur;
      const now = this.ctx.clock.now();
      return { ...cur, state: 'ready', fencedVolumes: [], renewedAt: now, updatedAt: now };
    });
    if (node?.state === 'ready') {
      await recordEvent(this.ctx, {
        type: 'node.ready', nodeId,
        message: `node ${nodeId} is ready${released.length ? ` after releasing ${released.join(', ')}` : ''}${repaired.length ? `; mounted again ${repaired.join(', ')}` : ''}`,
        details: { released, repaired },
      });
      await settleNodeIntents(this.ctx, this, nodeId);
    }
    return { released, repaired };
  }

  /** Renews the lease. Answers the node's state; `fenced` tells the channel to make the agent start over. */
  async heartbeat(nodeId: string): Promise<NodeState | undefined> {
    let back = false;
    const node = await this.updateNode(nodeId, (cur) => {
      if (!cur || cur.state === 'fenced') return cur;
      const now = this.ctx.clock.now();
      back = cur.state === 'unreachable';
      return { ...cur, state: back ? 'ready' : cur.state, renewedAt: now, updatedAt: now };
    });
    if (back) await recordEvent(this.ctx, { type: 'node.ready', nodeId, message: `node ${nodeId} is reachable again before its fence`, details: {} });
    return node?.state;
  }

  async disconnected(nodeId: string, reason: string): Promise<void> {
    await recordEvent(this.ctx, { type: 'node.disconnected', nodeId, message: `agent of node ${nodeId} disconnected: ${reason}`, details: { reason } });
  }

  /** The lease monitor: one pass over every node (run it about ten times per lease). */
  async checkLeases(): Promise<void> {
    if (this.checking) return; // a fence of many volumes may outlast one period
    this.checking = true;
    try {
      await this.checkLeasesOnce();
    } finally {
      this.checking = false;
    }
  }

  private checking = false;

  private async checkLeasesOnce(): Promise<void> {
    const now = this.ctx.clock.now();
    for (const node of await this.allNodes()) {
      const next = leaseTransition(node, now, this.times);
      if (next === undefined) continue;
      if (next === 'unreachable') {
        const changed = await this.updateNode(node.id, (cur) => (cur && cur.renewedAt === node.renewedAt && cur.state !== 'fenced' ? { ...cur, state: 'unreachable', updatedAt: now } : cur));
        if (changed?.state === 'unreachable' && changed.renewedAt === node.renewedAt) {
          await recordEvent(this.ctx, {
            type: 'node.unreachable', nodeId: node.id,
            message: `node ${node.id} is unreachable: no heartbeat since ${new Date(node.renewedAt).toISOString()}; fenced at ${new Date(fenceDeadline(node, this.times)).toISOString()} unless it returns`,
            details: { renewedAt: node.renewedAt, fenceAt: fenceDeadline(node, this.times) },
          });
        }
      } else {
        await this.fence(node);
      }
    }
  }

  /**
   * Fences a node: the node is marked `fenced` first (so no heartbeat brings it back and no new
   * attachment goes to it), then each of its attachments is revoked in the catalog.
   */
  private async fence(seen: NodeRecord): Promise<void> {
    const now = this.ctx.clock.now();
    const marked = await this.updateNode(seen.id, (cur) => (cur && cur.renewedAt === seen.renewedAt && cur.state !== 'fenced' ? { ...cur, state: 'fenced', updatedAt: now } : cur));
    if (marked?.state !== 'fenced' || marked.updatedAt !== now) return;
    const revoked: string[] = [];
    for (const v of await this.volumesOn(seen.id)) {
      await revokeAttachment(this.ctx, v.id, seen.id);
      revoked.push(v.id);
      await recordEvent(this.ctx, { type: 'volume.revoked', nodeId: seen.id, volumeId: v.id, message: `attachment of volume ${v.id} to fenced node ${seen.id} revoked; it may attach elsewhere`, details: {} });
    }
    await this.updateNode(seen.id, (cur) => (cur ? { ...cur, fencedVolumes: [...new Set([...cur.fencedVolumes, ...revoked])], updatedAt: this.ctx.clock.now() } : cur));
    await recordEvent(this.ctx, {
      type: 'node.fenced', nodeId: seen.id,
      message: `node ${seen.id} fenced: lease expired at ${new Date(leaseDeadline(seen, this.times)).toISOString()} and the grace period passed; ${revoked.length} attachment(s) revoked`,
      details: { revoked, renewedAt: seen.renewedAt },
    });
  }

  // -------------------------------------------------------------------------------------------
  // use cases

  async listNodes(caller: Caller): Promise<NodeView[]> {
    assertAdmin(caller, 'listing nodes');
    return (await this.allNodes()).map((n) => this.view(n));
  }

  async getNode(caller: Caller, id: string): Promise<NodeView> {
    assertAdmin(caller, 'inspecting nodes');
    checkName('nodeId', id);
    const rec = await this.getRecord(id);
    if (!rec) throw notFound('node', id);
    return this.view(rec.value, await this.volumesOn(id));
  }

  async cordonNode(caller: Caller, id: string, cordoned: boolean): Promise<NodeView> {
    assertAdmin(caller, 'cordoning nodes');
    checkName('nodeId', id);
    const node = await this.updateNode(id, (cur) => {
      if (!cur) throw notFound('node', id);
      return cur.cordoned === cordoned ? cur : { ...cur, cordoned, updatedAt: this.ctx.clock.now() };
    });
    await recordEvent(this.ctx, { type: cordoned ? 'node.cordoned' : 'node.uncordoned', nodeId: id, message: `node ${id} ${cordoned ? 'cordoned: no new attachments' : 'uncordoned'}`, details: {} });
    return this.view(node!);
  }

  /** Cordons the node and detaches every volume from it (through its agent). */
  async drainNode(caller: Caller, id: string): Promise<NodeView> {
    await this.cordonNode(caller, id, true);
    const detached: string[] = [];
    const failed: string[] = [];
    for (const v of await this.volumesOn(id)) {
      try {
        await this.detach(caller, v.id, id);
        detached.push(v.id);
      } catch (e) {
        failed.push(`${v.id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    await recordEvent(this.ctx, { type: 'node.drained', nodeId: id, message: `node ${id} drained: ${detached.length} volume(s) detached${failed.length ? `, ${failed.length} failed` : ''}`, details: { detached, failed } });
    if (failed.length > 0) throw new PollyError('FAILED_PRECONDITION', `node ${id}: ${failed.length} volume(s) could not be detached: ${failed.join('; ')}`, { nodeId: id, detached, failed });
    return this.getNode(caller, id);
  }

  /**
   * Attaches a volume to a node. For a node with an agent the attachment is written first (it
   * claims the volume: a second writable attach elsewhere is refused naming the holder), then the
   * agent attaches and mounts it; when the agent fails the claim is withdrawn. A node without an
   * agent record, and the server's own node (its front doors mount), get the catalog attachment
   * only (node-side work by whoever uses the volume there).
   */
  async attach(caller: Caller, id: string, input: AttachInput): Promise<Volume> {
    checkName('nodeId', input?.nodeId);
    const node = (await this.getRecord(input.nodeId))?.value;
    if (!node) return attachToNode(this.ctx, caller, id, input);
    const existing = assertMaySeeVolume(caller, (await loadVolume(this.ctx, id))?.value, id).attachments.find((a) => a.nodeId === node.id);
    if (!existing) {
      if (node.state !== 'ready') {
        throw new PollyError('FAILED_PRECONDITION', `node ${node.id} is ${node.state}; volumes attach only to ready nodes`, { nodeId: node.id, state: node.state });
      }
      if (node.cordoned) throw new PollyError('FAILED_PRECONDITION', `node ${node.id} is cordoned; no new attachments`, { nodeId: node.id });
    }
    const claimed = await attachToNode(this.ctx, caller, id, input);
    // On the server's own host the front doors (CSI node service, Docker plugin) mount where
    // their runtime asks, through the node use cases: the attachment is the catalog claim only.
    if (node.inProcess) return claimed;
    const attachment = claimed.attachments.find((a) => a.nodeId === node.id)!;
    if (!existing) {
      // A fence may have started between the state check and the claim: it would miss the claim.
      const now = (await this.getRecord(node.id))?.value;
      if (now?.state !== 'ready') {
        await detachFromNode(this.ctx, caller, id, node.id);
        throw new PollyError('FAILED_PRECONDITION', `node ${node.id} became ${now?.state ?? 'unknown'} while volume ${id} was being attached to it`, { nodeId: node.id, state: now?.state ?? null });
      }
    }
    if (attachment.mountPath !== undefined) return claimed;
    const res = await this.dispatch(node.id, 'attach', id, this.attachArgs(claimed, attachment.readOnly));
    if (!res.ok) {
      // Withdraw the claim only when the node says it holds nothing (detach succeeded).
      const undo = await this.dispatch(node.id, 'detach', id, this.refArgs(claimed));
      if (undo.ok) await detachFromNode(this.ctx, caller, id, node.id);
      await recordEvent(this.ctx, { type: 'volume.attach-failed', nodeId: node.id, volumeId: id, message: `attaching volume ${id} on node ${node.id} failed: ${res.error?.message}`, details: { error: res.error ?? null, withdrawn: undo.ok } });
      throw resultError(res, `attaching volume ${id} on node ${node.id}`);
    }
    const mountPath = typeof res.result?.['mountPath'] === 'string' ? res.result['mountPath'] : undefined;
    const device = typeof res.result?.['devicePath'] === 'string' ? res.result['devicePath'] : undefined;
    const done = await updateVolume(this.ctx, id, (cur) => {
      const v = assertMaySeeVolume(caller, cur, id);
      if (!v.attachments.some((a) => a.nodeId === node.id)) {
        throw new PollyError('CONFLICT', `the attachment of volume ${id} to node ${node.id} was revoked meanwhile (node fenced?)`, { nodeId: node.id });
      }
      return {
        ...v, updatedAt: this.ctx.clock.now(),
        attachments: v.attachments.map((a) => (a.nodeId === node.id ? { ...a, ...(mountPath ? { mountPath } : {}), ...(device ? { device } : {}) } : a)),
      };
    });
    await recordEvent(this.ctx, { type: 'volume.attached', nodeId: node.id, volumeId: id, message: `volume ${id} attached and mounted on node ${node.id}${mountPath ? ` at ${mountPath}` : ''}`, details: { readOnly: attachment.readOnly, accessMode: attachment.accessMode } });
    return done;
  }

  /**
   * Detaches a volume from a node: its agent unmounts and releases it first, then the catalog
   * drops the attachment. A node whose agent is away cannot confirm; its attachments are revoked
   * when it is fenced.
   */
  async detach(caller: Caller, id: string, nodeId: string): Promise<Volume> {
    checkName('nodeId', nodeId);
    const volume = assertMaySeeVolume(caller, (await loadVolume(this.ctx, id))?.value, id);
    const node = (await this.getRecord(nodeId))?.value;
    if (!node || node.inProcess || !volume.attachments.some((a) => a.nodeId === nodeId)) return detachFromNode(this.ctx, caller, id, nodeId);
    if (!this.channel.connectedNodes().includes(nodeId)) {
      throw new PollyError('UNAVAILABLE', `node ${nodeId} is ${node.state} and its agent is not connected; it cannot release volume ${id} now (a node whose lease runs out is fenced at ${new Date(fenceDeadline(node, this.times)).toISOString()}, which revokes its attachments)`, { nodeId, state: node.state }, { retryable: true });
    }
    const res = await this.dispatch(nodeId, 'detach', id, this.refArgs(volume));
    if (!res.ok) throw resultError(res, `detaching volume ${id} on node ${nodeId}`);
    const out = await detachFromNode(this.ctx, caller, id, nodeId);
    await recordEvent(this.ctx, { type: 'volume.detached', nodeId, volumeId: id, message: `volume ${id} unmounted and detached on node ${nodeId}`, details: {} });
    return out;
  }

  // -------------------------------------------------------------------------------------------

  private refArgs(v: Volume): Record<string, unknown> {
    const { ledger } = serviceOf(this.ctx, v.service);
    const pool = ledger.pool(v.pool);
    if (!pool) throw new PollyError('INTERNAL', `pool ${v.pool} of volume ${v.id} is not configured`, { volumeId: v.id });
    return { service: v.service, pool: pool.spec.name, backendId: v.backendId };
  }

  attachArgs(v: Volume, readOnly: boolean): Record<string, unknown> {
    return { ...this.refArgs(v), readOnly, mode: 'mount' };
  }

  /** Sends one operation to a node's agent; transport failures come back as a failed result. */
  async dispatch(nodeId: string, kind: NodeOperation['kind'], volumeId: string, args: Record<string, unknown>): Promise<NodeOperationResult> {
    const op: NodeOperation = { opId: newId('op'), nodeId, kind, volumeId, args };
    try {
      return await this.channel.dispatch(op, { timeoutMs: this.options.operationTimeoutMs });
    } catch (e) {
      const err = e instanceof PollyError ? e : new PollyError('UNAVAILABLE', e instanceof Error ? e.message : String(e));
      return { opId: op.opId, ok: false, error: { code: err.code, message: err.message } };
    }
  }
}

/** Drops a volume's attachment to a node from the catalog (the node is fenced); a volume gone meanwhile is fine. */
export async function revokeAttachment(ctx: CoreContext, volumeId: string, nodeId: string): Promise<void> {
  try {
    await detachVolume(ctx, ADMIN, volumeId, nodeId);
  } catch (e) {
    if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e;
  }
}

function resultError(res: NodeOperationResult, what: string): PollyError {
  const code = res.error?.code;
  const known = ['INVALID_ARGUMENT', 'NOT_FOUND', 'FAILED_PRECONDITION', 'UNAVAILABLE', 'UNSUPPORTED', 'BACKEND_ERROR'] as const;
  const c = known.find((k) => k === code) ?? 'BACKEND_ERROR';
  return new PollyError(c, `${what} failed: ${res.error?.message ?? 'no answer'}`, { agentError: res.error ?? null }, { retryable: c === 'UNAVAILABLE' });
}

const MAX_REPORTED = 100_000;

/** What an agent reports its kernel holds: names checked, paths plain absolute strings. */
function checkReport(reported: unknown): AgentVolume[] {
  if (!Array.isArray(reported) || reported.length > MAX_REPORTED) throw invalid('attached', `must be a list of at most ${MAX_REPORTED} volumes`);
  return reported.map((r: AgentVolume, i) => {
    const at = `attached[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalid(at, 'must be an object');
    const paths = Array.isArray(r.mountPaths) ? r.mountPaths : [];
    if (paths.length > 64 || paths.some((p) => typeof p !== 'string' || !p.startsWith('/') || p.length > 4096 || /[\u0000-\u001f]/.test(p))) {
      throw invalid(`${at}.mountPaths`, 'must be at most 64 absolute paths');
    }
    return {
      service: checkName(`${at}.service`, r.service), pool: checkName(`${at}.pool`, r.pool), backendId: checkName(`${at}.backendId`, r.backendId),
      mountPaths: paths, ...(typeof r.devicePath === 'string' && r.devicePath.length <= 4096 ? { devicePath: r.devicePath } : {}),
    };
  });
}

function checkNodePools(pools: unknown): NodePool[] {
  if (!Array.isArray(pools) || pools.length > MAX_NODE_POOLS) throw invalid('pools', `must be a list of at most ${MAX_NODE_POOLS} pools`);
  return pools.map((p: NodePool, i) => {
    const at = `pools[${i}]`;
    if (typeof p !== 'object' || p === null) throw invalid(at, 'must be an object');
    checkName(`${at}.service`, p.service);
    checkName(`${at}.name`, p.name);
    if (p.capacityBytes !== undefined && (!Number.isSafeInteger(p.capacityBytes) || p.capacityBytes <= 0)) throw invalid(`${at}.capacityBytes`, 'must be a positive number of bytes');
    if (!Array.isArray(p.types)) throw invalid(`${at}.types`, 'must be a list');
    p.types.forEach((t, j) => checkName(`${at}.types[${j}]`, t));
    if (p.zone !== undefined) checkName(`${at}.zone`, p.zone);
    return {
      service: p.service, name: p.name, ...(p.capacityBytes === undefined ? {} : { capacityBytes: p.capacityBytes }),
      types: [...p.types], labels: checkLabels(`${at}.labels`, p.labels), ...(p.zone === undefined ? {} : { zone: p.zone }),
    };
  });
}
