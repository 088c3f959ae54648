import { join, relative, isAbsolute, sep } from 'node:path';
import { asPollyError, invalid, PollyError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import type { AgentVolume } from '../core/nodes.js';
import type { NodeOperation, NodeOperationResult } from '../core/ports/node-channel.js';
import type { BackendRef, CreateVolumeRequest, NodeAccess, StorageDriver } from '../core/ports/storage-driver.js';
import type { Logger } from '../core/ports/logger.js';

const RESULT_CACHE = 2048;

/** A clone's source as the server sent it: its names checked before they reach the driver. */
function checkSource(source: unknown): NonNullable<CreateVolumeRequest['source']> {
  const s = source as { kind?: unknown; ref?: { pool?: unknown; backendId?: unknown } } | null;
  if (typeof s !== 'object' || s === null || (s.kind !== 'snapshot' && s.kind !== 'volume') || typeof s.ref !== 'object' || s.ref === null) {
    throw invalid('request.source', 'must be {kind: snapshot|volume, ref: {pool, backendId}}');
  }
  return { kind: s.kind, ref: { pool: checkName('request.source.ref.pool', s.ref.pool), backendId: checkName('request.source.ref.backendId', s.ref.backendId) } };
}

/**
 * Runs node operations on this host through the services' drivers. Every operation is
 * idempotent (the drivers' contract); on top, an op id seen before gets the first answer again
 * (a replay after a reconnect joins the running operation or reads its result).
 *
 * Volumes are mounted at `<mountDir>/<volumeId>`; only mounts under mountDir count as this
 * agent's (several agents may share one machine in tests).
 */
export class NodeExecutor {
  private readonly results = new Map<string, Promise<NodeOperationResult>>();
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly mountDir: string,
    private readonly drivers: () => ReadonlyMap<string, StorageDriver>,
    private readonly logger: Logger,
  ) {}

  run(op: NodeOperation): Promise<NodeOperationResult> {
    const seen = this.results.get(op.opId);
    if (seen) return seen;
    const p = this.execute(op).then(
      (result): NodeOperationResult => ({ opId: op.opId, ok: true, result }),
      (e: unknown): NodeOperationResult => {
        const err = asPollyError(e, 'BACKEND_ERROR');
        this.logger.warn({ opId: op.opId, kind: op.kind, volumeId: op.volumeId, err: err.message }, 'node operation failed');
        return { opId: op.opId, ok: false, error: { code: err.code, message: err.message } };
      },
    );
    this.results.set(op.opId, p);
    if (this.results.size > RESULT_CACHE) this.results.delete(this.results.keys().next().value!);
    this.running.add(p);
    void p.then(() => this.running.delete(p));
    return p;
  }

  /**
   * Resolves when every operation running now has ended. An agent waits for this before it
   * reports to a server it (re)connected to, so what the server then reads of this node's pools
   * (to settle intents a lost connection left) includes what those operations did.
   */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  mountPathOf(volumeId: string): string {
    checkName('volumeId', volumeId);
    return join(this.mountDir, volumeId);
  }

  private isOurs(path: string): boolean {
    const rel = relative(this.mountDir, path);
    return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  }

  /** Volumes of every service mounted under this agent's mount dir, read from the kernel. */
  async attached(): Promise<AgentVolume[]> {
    const out: AgentVolume[] = [];
    for (const [service, driver] of this.drivers()) {
      for (const a of await driver.node.attachedVolumes()) {
        const mountPaths = a.mountPaths.filter((p) => this.isOurs(p));
        if (mountPaths.length === 0) continue;
        out.push({ service, pool: a.pool, backendId: a.backendId, mountPaths, ...(a.devicePath === undefined ? {} : { devicePath: a.devicePath }) });
      }
    }
    return out;
  }

  /** Unmounts and releases everything this agent holds (self-fencing). */
  async releaseAll(): Promise<string[]> {
    const released: string[] = [];
    for (const v of await this.attached()) {
      await this.release(v.service, { pool: v.pool, backendId: v.backendId }, v.mountPaths);
      released.push(`${v.service}/${v.pool}/${v.backendId}`);
    }
    return released;
  }

  private driver(service: unknown): StorageDriver {
    const name = checkName('service', service);
    const d = this.drivers().get(name);
    if (!d) throw new PollyError('NOT_FOUND', `this agent has no driver for service ${name}`, { service: name });
    return d;
  }

  private ref(args: Readonly<Record<string, unknown>>): BackendRef {
    return { pool: checkName('pool', args['pool']), backendId: checkName('backendId', args['backendId']) };
  }

  private async release(service: string, ref: BackendRef, paths: readonly string[]): Promise<void> {
    const driver = this.driver(service);
    for (const p of paths) await driver.node.unstage(ref, p);
    await driver.node.detach(ref);
  }

  /**
   * Grows a volume on its backend, then what this node sees of it where it is mounted here (a
   * loop device's capacity and the filesystem, for drivers that need it), so the new size is
   * usable at once on the node that holds the volume. The backend has grown once the first step
   * succeeded: a node-side growth the kernel refuses (an online ext4 resize without
   * CAP_SYS_RESOURCE) is reported, not failed — the filesystem grows when the volume is next staged.
   */
  private async expand(service: string, ref: BackendRef, size: unknown): Promise<Record<string, unknown>> {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) throw invalid('sizeBytes', 'must be a positive number of bytes');
    const driver = this.driver(service);
    const grown = await driver.expand(ref, size);
    const mounted = (await this.attached()).filter((v) => v.service === service && v.pool === ref.pool && v.backendId === ref.backendId);
    const grownOnNode: string[] = [];
    const pendingOnNode: string[] = [];
    for (const p of mounted.flatMap((v) => v.mountPaths)) {
      try {
        await driver.node.expandOnNode(ref, p);
        grownOnNode.push(p);
      } catch (e) {
        pendingOnNode.push(p);
        this.logger.warn({ backendId: ref.backendId, path: p, err: asPollyError(e).message }, 'the volume grew on its backend; its filesystem here grows when it is next staged');
      }
    }
    if (grownOnNode.length > 0) this.logger.info({ backendId: ref.backendId, paths: grownOnNode }, 'volume grown on this node');
    return { ...grown, grownOnNode, pendingOnNode };
  }

  private async execute(op: NodeOperation): Promise<Record<string, unknown>> {
    const a = op.args;
    switch (op.kind) {
      case 'attach': {
        const driver = this.driver(a['service']);
        const ref = this.ref(a);
        const access: NodeAccess = { mode: 'mount', readonly: a['readOnly'] === true };
        const mountPath = this.mountPathOf(op.volumeId);
        const attached = await driver.node.attach(ref, access);
        await driver.node.stage(ref, mountPath, access);
        this.logger.info({ volumeId: op.volumeId, mountPath }, 'volume attached and mounted');
        return { mountPath, ...(attached.devicePath === undefined ? {} : { devicePath: attached.devicePath }) };
      }
      case 'detach': {
        const ref = this.ref(a);
        const given = Array.isArray(a['mountPaths']) ? a['mountPaths'].filter((p): p is string => typeof p === 'string' && this.isOurs(p)) : [];
        const own = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(op.volumeId) && !op.volumeId.includes('..') ? [this.mountPathOf(op.volumeId)] : [];
        await this.release(String(a['service']), ref, [...new Set([...given, ...own])]);
        this.logger.info({ volumeId: op.volumeId }, 'volume unmounted and detached');
        return {};
      }
      case 'create': {
        const request = a['request'] as CreateVolumeRequest;
        if (typeof request !== 'object' || request === null) throw invalid('request', 'is required');
        const made = await this.driver(a['service']).create({
          volumeId: checkName('volumeId', request.volumeId), pool: checkName('pool', request.pool),
          sizeBytes: Number(request.sizeBytes), parameters: request.parameters ?? {},
          ...(request.source === undefined ? {} : { source: checkSource(request.source) }),
        });
        return { ...made };
      }
      case 'delete':
        await this.driver(a['service']).delete(this.ref(a));
        return {};
      case 'snapshot':
        return { ...(await this.driver(a['service']).snapshot(checkName('snapshotId', a['snapshotId']), this.ref(a))) };
      case 'deleteSnapshot':
        await this.driver(a['service']).deleteSnapshot(this.ref(a));
        return {};
      case 'expand':
        return this.expand(String(a['service']), this.ref(a), a['sizeBytes']);
      case 'capacity': {
        const driver = this.driver(a['service']);
        return { ...(await driver.capacity(checkName('pool', a['pool']))), capabilities: { ...driver.capabilities } };
      }
      case 'inventory':
        return { attached: await this.attached() };
      case 'list':
        return { volumes: await this.driver(a['service']).list(checkName('pool', a['pool'])) };
      default:
        throw new PollyError('UNSUPPORTED', `node operation ${String(op.kind)} is not supported by this agent`);
    }
  }
}
