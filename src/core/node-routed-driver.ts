import { PollyError } from './errors.js';
import type { NodeOperation, NodeOperationResult } from './ports/node-channel.js';
import type {
  BackendRef, BackendVolume, CreateVolumeRequest, NodeSideDriver, OperationOptions, PoolCapacity, StorageDriver,
} from './ports/storage-driver.js';

export type NodeDispatch = (nodeId: string, kind: NodeOperation['kind'], volumeId: string, args: Record<string, unknown>) => Promise<NodeOperationResult>;

/**
 * A service's driver as core sees it once agents contribute node-local pools: work on a pool a
 * node owns goes to that node's agent (create, delete, capacity, list); everything else to the
 * service's own driver. Snapshots, clones and expansion on node pools are not offered yet.
 */
export class NodeRoutedDriver implements StorageDriver {
  readonly name: string;
  readonly node: NodeSideDriver;
  /** The backend's controller publish, when it has one (a CSI plugin); node pools need none. */
  readonly controllerPublish?: StorageDriver['controllerPublish'];
  readonly controllerUnpublish?: StorageDriver['controllerUnpublish'];

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

  pools(): readonly string[] {
    return this.base.pools();
  }

  private async remote(nodeId: string, kind: NodeOperation['kind'], volumeId: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await this.dispatch(nodeId, kind, volumeId, { service: this.service, ...args });
    if (!res.ok) {
      throw new PollyError(res.error?.code === 'UNAVAILABLE' ? 'UNAVAILABLE' : 'BACKEND_ERROR', `node ${nodeId}: ${kind} on pool ${String(args['pool'])} failed: ${res.error?.message ?? 'no answer'}`, { nodeId }, { retryable: res.error?.code === 'UNAVAILABLE' });
    }
    return (res.result ?? {}) as Record<string, unknown>;
  }

  private unsupported(what: string, pool: string, nodeId: string): never {
    throw new PollyError('UNSUPPORTED', `${what} is not offered on pool ${pool}, contributed by node ${nodeId}`, { pool, nodeId });
  }

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    const node = this.ownerOf(pool);
    if (node === undefined) return this.base.capacity(pool, options);
    return (await this.remote(node, 'capacity', '', { pool })) as unknown as PoolCapacity;
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    const node = this.ownerOf(request.pool);
    if (node === undefined) return this.base.create(request, options);
    if (request.source) this.unsupported('creating from a snapshot or volume', request.pool, node);
    return (await this.remote(node, 'create', request.volumeId, { pool: request.pool, request })) as unknown as BackendVolume;
  }

  async delete(ref: BackendRef, options?: OperationOptions): Promise<void> {
    const node = this.ownerOf(ref.pool);
    if (node === undefined) return this.base.delete(ref, options);
    await this.remote(node, 'delete', ref.backendId, { pool: ref.pool, backendId: ref.backendId });
  }

  snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    const node = this.ownerOf(source.pool);
    return node === undefined ? this.base.snapshot(snapshotId, source, options) : this.unsupported('snapshotting', source.pool, node);
  }

  deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    const node = this.ownerOf(ref.pool);
    return node === undefined ? this.base.deleteSnapshot(ref, options) : this.unsupported('deleting snapshots', ref.pool, node);
  }

  expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    const node = this.ownerOf(ref.pool);
    return node === undefined ? this.base.expand(ref, sizeBytes, options) : this.unsupported('expanding', ref.pool, node);
  }

  async list(pool: string, options?: OperationOptions): Promise<BackendVolume[]> {
    const node = this.ownerOf(pool);
    if (node === undefined) return this.base.list(pool, options);
    return (await this.remote(node, 'list', '', { pool }))['volumes'] as BackendVolume[];
  }

  listIds(pool: string, options?: OperationOptions): Promise<(BackendRef & { readonly kind: 'volume' | 'snapshot' })[]> {
    if (this.ownerOf(pool) !== undefined || !this.base.listIds) return this.list(pool, options);
    return this.base.listIds(pool, options);
  }

  usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined> {
    return this.ownerOf(ref.pool) === undefined ? this.base.usage(ref, options) : Promise.resolve(undefined);
  }

  cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return this.ownerOf(pool) === undefined ? this.base.cleanup(pool, options) : Promise.resolve(0);
  }

  close(): Promise<void> {
    return this.base.close();
  }
}
