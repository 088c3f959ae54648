import { PollyError } from './errors.js';
import { checkName } from './names.js';
import type { NodeOperation, NodeOperationResult } from './ports/node-channel.js';
import type {
  BackendRef, BackendVolume, CreateVolumeRequest, DriverCapabilities, NodeSideDriver, OperationOptions, PoolCapacity, StorageDriver,
} from './ports/storage-driver.js';

export type NodeDispatch = (nodeId: string, kind: NodeOperation['kind'], volumeId: string, args: Record<string, unknown>) => Promise<NodeOperationResult>;

const CAPABILITY_KEYS = ['snapshot', 'clone', 'expand', 'block', 'nodeLocal'] as const;

/**
 * A service's driver as core sees it once agents contribute node-local pools: work on a pool a
 * node owns goes to that node's agent (create, clone, delete, snapshot, expand, capacity, list);
 * everything else to the service's own driver. Each operation is one node operation with the
 * channel's acknowledgement, time limit and replay (D71); an agent that is away answers
 * UNAVAILABLE (retryable). What a node pool can do is what the node's driver says it can do
 * (reported with every capacity answer). A clone stays on its source's node: the agent copies
 * within its own storage, and a source and target on different hosts are refused.
 */
export class NodeRoutedDriver implements StorageDriver {
  readonly name: string;
  readonly node: NodeSideDriver;
  /** The backend's controller publish, when it has one (a CSI plugin); node pools need none. */
  readonly controllerPublish?: StorageDriver['controllerPublish'];
  readonly controllerUnpublish?: StorageDriver['controllerUnpublish'];
  /** Capabilities of node pools as their node's driver last reported them. */
  private readonly nodeCapabilities = new Map<string, DriverCapabilities>();

  constructor(
    private readonly base: StorageDriver,
    private readonly service: string,
    private readonly ownerOf: (pool: string) => string | undefined,
    private readonly dispatch: NodeDispatch,
  ) {
    this.name = base.name;
    this.node = base.node;
    if (base.controllerPublish) this.controllerPublish = base.controllerPublish.bind(base);
    if (base.controllerUnpublish) this.controllerUnpublish = base.controllerUnpublish.bind(base);
  }

  /** Read through: a driver may learn its capabilities after it starts (a CSI plugin's). */
  get capabilities(): StorageDriver['capabilities'] {
    return this.base.capabilities;
  }

  /** A node pool's capabilities as its node reported them (undefined until its agent answered once). */
  capabilitiesOf(pool: string): DriverCapabilities | undefined {
    return this.ownerOf(pool) === undefined ? this.base.capabilitiesOf?.(pool) : this.nodeCapabilities.get(pool);
  }

  pools(): readonly string[] {
    return this.base.pools();
  }

  private async remote(nodeId: string, kind: NodeOperation['kind'], volumeId: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await this.dispatch(nodeId, kind, volumeId, { service: this.service, ...args });
    if (!res.ok) {
      const away = res.error?.code === 'UNAVAILABLE';
      // A node's answer about the request itself is passed on; for a removal it is not: a
      // NOT_FOUND there would read as "gone already" (CSI answers OK) while the data stays.
      const removal = kind === 'delete' || kind === 'deleteSnapshot';
      const passed = removal ? [] : ['INVALID_ARGUMENT', 'NOT_FOUND', 'UNSUPPORTED', 'OUT_OF_RANGE', 'INSUFFICIENT_CAPACITY'] as const;
      const code = away ? 'UNAVAILABLE' : passed.find((c) => c === res.error?.code) ?? 'BACKEND_ERROR';
      throw new PollyError(code, `node ${nodeId}: ${kind} on pool ${String(args['pool'])} failed: ${res.error?.message ?? 'no answer'}`, { nodeId }, { retryable: away });
    }
    return (res.result ?? {}) as Record<string, unknown>;
  }

  /** Refuses what the node's driver cannot do (before anything is sent to it). */
  private require(capability: keyof DriverCapabilities, what: string, pool: string, nodeId: string): void {
    const caps = this.nodeCapabilities.get(pool) ?? this.base.capabilities;
    if (!caps[capability]) {
      throw new PollyError('UNSUPPORTED', `${what} is not offered on pool ${pool}: the ${this.name} driver of node ${nodeId} cannot do it`, { pool, nodeId });
    }
  }

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    const node = this.ownerOf(pool);
    if (node === undefined) return this.base.capacity(pool, options);
    const res = await this.remote(node, 'capacity', '', { pool });
    const caps = res['capabilities'] as Record<string, unknown> | undefined;
    if (caps && typeof caps === 'object' && CAPABILITY_KEYS.every((k) => typeof caps[k] === 'boolean')) {
      this.nodeCapabilities.set(pool, Object.freeze(Object.fromEntries(CAPABILITY_KEYS.map((k) => [k, caps[k] as boolean])) as unknown as DriverCapabilities));
    }
    const total = Number(res['totalBytes']);
    const free = Number(res['freeBytes']);
    if (!Number.isSafeInteger(total) || !Number.isSafeInteger(free) || total < 0 || free < 0) {
      throw new PollyError('BACKEND_ERROR', `node ${node} answered a capacity of pool ${pool} that is not a number of bytes`, { nodeId: node });
    }
    return { pool, totalBytes: total, freeBytes: free };
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    const node = this.ownerOf(request.pool);
    const sourceNode = request.source ? this.ownerOf(request.source.ref.pool) : undefined;
    if (request.source && node !== sourceNode) {
      const where = (n: string | undefined, pool: string) => (n === undefined ? `the server's pool ${pool}` : `pool ${pool} of node ${n}`);
      throw new PollyError('UNSUPPORTED', `cloning across nodes is not supported: the source ${request.source.kind} is on ${where(sourceNode, request.source.ref.pool)}, the new volume would be on ${where(node, request.pool)}; a clone is made on its source's node (Polly does not copy between nodes)`, {
        pool: request.pool, sourcePool: request.source.ref.pool, ...(node === undefined ? {} : { nodeId: node }), ...(sourceNode === undefined ? {} : { sourceNodeId: sourceNode }),
      });
    }
    if (node === undefined) return this.base.create(request, options);
    if (request.source) this.require('clone', `creating from a ${request.source.kind}`, request.pool, node);
    return backendVolume(node, await this.remote(node, 'create', request.volumeId, { pool: request.pool, request }), 'volume');
  }

  async delete(ref: BackendRef, options?: OperationOptions): Promise<void> {
    const node = this.ownerOf(ref.pool);
    if (node === undefined) return this.base.delete(ref, options);
    await this.remote(node, 'delete', ref.backendId, { pool: ref.pool, backendId: ref.backendId });
  }

  async snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    const node = this.ownerOf(source.pool);
    if (node === undefined) return this.base.snapshot(snapshotId, source, options);
    this.require('snapshot', 'snapshotting', source.pool, node);
    return backendVolume(node, await this.remote(node, 'snapshot', source.backendId, { pool: source.pool, backendId: source.backendId, snapshotId }), 'snapshot');
  }

  async deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    const node = this.ownerOf(ref.pool);
    if (node === undefined) return this.base.deleteSnapshot(ref, options);
    await this.remote(node, 'deleteSnapshot', ref.backendId, { pool: ref.pool, backendId: ref.backendId });
  }

  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    const node = this.ownerOf(ref.pool);
    if (node === undefined) return this.base.expand(ref, sizeBytes, options);
    this.require('expand', 'expanding', ref.pool, node);
    return backendVolume(node, await this.remote(node, 'expand', ref.backendId, { pool: ref.pool, backendId: ref.backendId, sizeBytes }), 'volume');
  }

  async list(pool: string, options?: OperationOptions): Promise<BackendVolume[]> {
    const node = this.ownerOf(pool);
    if (node === undefined) return this.base.list(pool, options);
    const volumes = (await this.remote(node, 'list', '', { pool }))['volumes'];
    if (!Array.isArray(volumes)) throw new PollyError('BACKEND_ERROR', `node ${node} answered a listing of pool ${pool} that is not a list`, { nodeId: node });
    // Entries are only compared and reported (unmanaged ones carry the backend's own names).
    return volumes.filter((v: Record<string, unknown>) => typeof v?.['pool'] === 'string' && typeof v['backendId'] === 'string').map((v: Record<string, unknown>) => ({
      kind: v['kind'] === 'snapshot' ? 'snapshot' : 'volume', pool: v['pool'] as string, backendId: v['backendId'] as string,
      sizeBytes: Number.isSafeInteger(v['sizeBytes']) ? (v['sizeBytes'] as number) : 0,
      ...(typeof v['createdAt'] === 'number' ? { createdAt: v['createdAt'] } : {}),
    }));
  }

  listIds(pool: string, options?: OperationOptions): Promise<(BackendRef & { readonly kind: 'volume' | 'snapshot' })[]> {
    if (this.ownerOf(pool) !== undefined || !this.base.listIds) return this.list(pool, options);
    return this.base.listIds(pool, options);
  }

  usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined> {
    return this.ownerOf(ref.pool) === undefined ? this.base.usage(ref, options) : Promise.resolve(undefined);
  }

  /** Server-side pools only; a node's empty orphans stay reported as unmanaged. */
  removeEmptyOrphan(ref: BackendRef, options?: OperationOptions): Promise<boolean> {
    if (this.ownerOf(ref.pool) !== undefined || !this.base.removeEmptyOrphan) return Promise.resolve(false);
    return this.base.removeEmptyOrphan(ref, options);
  }

  cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return this.ownerOf(pool) === undefined ? this.base.cleanup(pool, options) : Promise.resolve(0);
  }

  close(): Promise<void> {
    return this.base.close();
  }
}

/** A backend volume an agent answered, checked: its backend id goes into the catalog. */
function backendVolume(nodeId: string, r: Record<string, unknown>, kind: 'volume' | 'snapshot'): BackendVolume {
  try {
    const sizeBytes = Number(r['sizeBytes']);
    const createdAt = r['createdAt'];
    return {
      kind, pool: checkName('pool', r['pool']), backendId: checkName('backendId', r['backendId']),
      sizeBytes: Number.isSafeInteger(sizeBytes) && sizeBytes >= 0 ? sizeBytes : 0,
      ...(typeof createdAt === 'number' && Number.isFinite(createdAt) ? { createdAt } : {}),
    };
  } catch (e) {
    throw new PollyError('BACKEND_ERROR', `node ${nodeId} answered a ${kind} that is not one: ${e instanceof Error ? e.message : String(e)}`, { nodeId });
  }
}
