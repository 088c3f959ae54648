import { PollyError, invalid } from '../../core/errors.js';
import type { ServiceSpec } from '../../core/model.js';
import type {
  BackendRef, BackendVolume, ControllerAccess, CreateVolumeRequest, DriverCapabilities, NodeSideDriver, OperationOptions, PoolCapacity, StorageDriver,
} from '../../core/ports/storage-driver.js';
import { CsiPluginClient, type CsiMessage } from './csi-plugin-client.js';
import { parseCsiDriverOptions, type CsiDriverOptions, type CsiPool } from './csi-driver-options.js';
import { unsupportedNodeSide } from './unsupported-node-side.js';

/** Plugin volume and snapshot ids Polly accepts: what fits a name, never a path. */
const BACKEND_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function checkId(field: string, value: unknown): string {
  if (typeof value !== 'string' || !BACKEND_ID.test(value) || value.includes('..')) {
    throw invalid(field, 'must be 1-128 characters of letters, digits, ".", "_", ":" and "-", starting with a letter or digit, without ".."');
  }
  return value;
}

const NO_CAPABILITIES: DriverCapabilities = Object.freeze({ snapshot: false, clone: false, expand: false, block: false, nodeLocal: false });

/**
 * The `csi` driver: a Polly service backed by an external CSI controller plugin. Polly's pools are
 * the plugin's topology segments (a pool's `topology` parameter; none = the whole plugin), the
 * plugin's GetCapacity is a pool's free space, and its controller capabilities limit what Polly
 * offers (snapshot, clone, expand). Volumes are created with the Polly volume id as the CSI name,
 * so a repeated create finds the same plugin volume; the plugin's volume_id is the backend id.
 */
export class CsiDriver implements StorageDriver {
  readonly name = 'csi';
  readonly node: NodeSideDriver = unsupportedNodeSide('csi');
  private caps: DriverCapabilities = NO_CAPABILITIES;
  private rpcs = new Set<string>();
  private connecting: Promise<void> | undefined;
  private readonly client: CsiPluginClient;

  constructor(private readonly service: string, private readonly options: CsiDriverOptions) {
    this.client = new CsiPluginClient({ endpoint: options.endpoint, timeoutMs: options.timeoutMs, retryForMs: options.retryForMs });
  }

  /** What the plugin can do; known after the first call reached it (see `connect`). */
  get capabilities(): DriverCapabilities {
    return this.caps;
  }

  pools(): readonly string[] {
    return [...this.options.pools.keys()];
  }

  /** Asks the plugin for its controller capabilities (once; again after a failure). */
  connect(signal?: AbortSignal): Promise<void> {
    this.connecting ??= (async () => {
      const plugin = await this.client.identityCall('GetPluginCapabilities', {}, signal);
      const services = ((plugin.capabilities ?? []) as CsiMessage[]).map((c) => c.service?.type);
      if (!services.includes('CONTROLLER_SERVICE')) {
        throw new PollyError('BACKEND_ERROR', `CSI plugin ${this.options.endpoint} has no controller service`);
      }
      const res = await this.client.controllerCall('ControllerGetCapabilities', {}, signal);
      this.rpcs = new Set(((res.capabilities ?? []) as CsiMessage[]).map((c) => c.rpc?.type as string));
      if (!this.rpcs.has('CREATE_DELETE_VOLUME')) throw new PollyError('BACKEND_ERROR', `CSI plugin ${this.options.endpoint} cannot create volumes`);
      this.caps = Object.freeze({
        snapshot: this.rpcs.has('CREATE_DELETE_SNAPSHOT'),
        clone: this.rpcs.has('CLONE_VOLUME'),
        expand: this.rpcs.has('EXPAND_VOLUME'),
        block: this.options.accessType === 'block',
        nodeLocal: false,
      });
    })().catch((e: unknown) => {
      this.connecting = undefined;
      throw e;
    });
    return this.connecting;
  }

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    const p = this.pool('pool', pool);
    await this.connect(options?.signal);
    let free = 0;
    if (this.rpcs.has('GET_CAPACITY')) {
      const res = await this.client.controllerCall('GetCapacity', {
        volume_capabilities: [this.capability()], parameters: this.options.parameters,
        ...(p.topology ? { accessible_topology: { segments: p.topology } } : {}),
      }, options?.signal);
      free = Number(res.available_capacity ?? 0);
    }
    // Total = what is still free + what this pool's volumes hold (when the plugin can list them).
    const used = this.rpcs.has('LIST_VOLUMES') ? (await this.listVolumes(p, options?.signal)).reduce((s, v) => s + v.sizeBytes, 0) : 0;
    const backendTotal = free + used;
    const totalBytes = p.capacityBytes !== undefined ? Math.min(p.capacityBytes, backendTotal || p.capacityBytes) : backendTotal;
    return { pool, totalBytes, freeBytes: Math.min(free, totalBytes) };
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    const p = this.pool('pool', request.pool);
    const name = checkId('volumeId', request.volumeId);
    let source: CsiMessage | undefined;
    if (request.source) {
      this.pool('source.ref.pool', request.source.ref.pool);
      const id = checkId('source.ref.backendId', request.source.ref.backendId);
      source = request.source.kind === 'snapshot' ? { snapshot: { snapshot_id: id } } : { volume: { volume_id: id } };
    }
    options?.signal?.throwIfAborted();
    await this.connect(options?.signal);
    const res = await this.client.controllerCall('CreateVolume', {
      name,
      capacity_range: { required_bytes: request.sizeBytes },
      volume_capabilities: [this.capability()],
      parameters: { ...this.options.parameters, ...request.parameters },
      secrets: this.options.secrets,
      ...(source ? { volume_content_source: source } : {}),
      ...(p.topology ? { accessibility_requirements: { requisite: [{ segments: p.topology }], preferred: [{ segments: p.topology }] } } : {}),
    }, options?.signal);
    const v = res.volume as CsiMessage;
    options?.onProgress?.({ doneBytes: Number(v.capacity_bytes), totalBytes: Number(v.capacity_bytes) });
    return { kind: 'volume', pool: p.name, backendId: checkId('plugin volume_id', v.volume_id), sizeBytes: Number(v.capacity_bytes) };
  }

  async delete(ref: BackendRef, options?: OperationOptions): Promise<void> {
    this.pool('ref.pool', ref?.pool);
    const id = checkId('ref.backendId', ref.backendId);
    await this.connect(options?.signal);
    await this.client.controllerCall('DeleteVolume', { volume_id: id, secrets: this.options.secrets }, options?.signal);
  }

  async snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    const p = this.pool('source.pool', source?.pool);
    const volumeId = checkId('source.backendId', source.backendId);
    const name = checkId('snapshotId', snapshotId);
    options?.signal?.throwIfAborted();
    await this.connect(options?.signal);
    this.require('snapshot');
    const res = await this.client.controllerCall('CreateSnapshot', { source_volume_id: volumeId, name, secrets: this.options.secrets }, options?.signal);
    const s = res.snapshot as CsiMessage;
    return { kind: 'snapshot', pool: p.name, backendId: checkId('plugin snapshot_id', s.snapshot_id), sizeBytes: Number(s.size_bytes) };
  }

  async deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    this.pool('ref.pool', ref?.pool);
    const id = checkId('ref.backendId', ref.backendId);
    await this.connect(options?.signal);
    this.require('snapshot');
    await this.client.controllerCall('DeleteSnapshot', { snapshot_id: id, secrets: this.options.secrets }, options?.signal);
  }

  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    const p = this.pool('ref.pool', ref?.pool);
    const id = checkId('ref.backendId', ref.backendId);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('sizeBytes', 'must be a positive number of bytes');
    await this.connect(options?.signal);
    this.require('expand');
    const current = await this.volumeSize(p, id, options?.signal);
    if (current !== undefined && sizeBytes < current) {
      throw new PollyError('OUT_OF_RANGE', `sizeBytes: cannot shrink volume "${id}" from ${current} to ${sizeBytes} bytes`, { field: 'sizeBytes', currentBytes: current, requestedBytes: sizeBytes });
    }
    const res = await this.client.controllerCall('ControllerExpandVolume', {
      volume_id: id, capacity_range: { required_bytes: sizeBytes }, secrets: this.options.secrets, volume_capability: this.capability(),
    }, options?.signal);
    return { kind: 'volume', pool: p.name, backendId: id, sizeBytes: Number(res.capacity_bytes) };
  }

  async list(pool: string, options?: OperationOptions): Promise<BackendVolume[]> {
    const p = this.pool('pool', pool);
    await this.connect(options?.signal);
    if (!this.rpcs.has('LIST_VOLUMES')) return [];
    const volumes = await this.listVolumes(p, options?.signal);
    if (!this.rpcs.has('LIST_SNAPSHOTS')) return volumes;
    const mine = new Set(volumes.map((v) => v.backendId));
    const snapshots = (await this.pages('ListSnapshots', options?.signal))
      .map((e) => e.snapshot as CsiMessage)
      .filter((s) => mine.has(s.source_volume_id))
      .map((s): BackendVolume => ({ kind: 'snapshot', pool: p.name, backendId: s.snapshot_id, sizeBytes: Number(s.size_bytes) }));
    return [...volumes, ...snapshots];
  }

  /** ControllerPublishVolume when the plugin has PUBLISH_UNPUBLISH_VOLUME (Polly's node id is the plugin's). */
  async controllerPublish(ref: BackendRef, nodeId: string, access: ControllerAccess, options?: OperationOptions): Promise<Readonly<Record<string, string>>> {
    this.pool('ref.pool', ref?.pool);
    const id = checkId('ref.backendId', ref.backendId);
    await this.connect(options?.signal);
    if (!this.rpcs.has('PUBLISH_UNPUBLISH_VOLUME')) return {};
    const mode = access.accessMode === 'rox' ? 'MULTI_NODE_READER_ONLY' : access.accessMode === 'rwx' ? 'MULTI_NODE_MULTI_WRITER' : this.options.accessMode;
    const res = await this.client.controllerCall('ControllerPublishVolume', {
      volume_id: id, node_id: nodeId, volume_capability: { ...this.capability(), access_mode: { mode } }, readonly: access.readOnly, secrets: this.options.secrets,
    }, options?.signal);
    return { ...((res.publish_context ?? {}) as Record<string, string>) };
  }

  async controllerUnpublish(ref: BackendRef, nodeId: string, options?: OperationOptions): Promise<void> {
    this.pool('ref.pool', ref?.pool);
    const id = checkId('ref.backendId', ref.backendId);
    await this.connect(options?.signal);
    if (!this.rpcs.has('PUBLISH_UNPUBLISH_VOLUME')) return;
    try {
      await this.client.controllerCall('ControllerUnpublishVolume', { volume_id: id, node_id: nodeId, secrets: this.options.secrets }, options?.signal);
    } catch (e) {
      if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e; // gone: nothing is published
    }
  }

  async usage(ref: BackendRef): Promise<number | undefined> {
    this.pool('ref.pool', ref?.pool);
    checkId('ref.backendId', ref.backendId);
    return undefined; // CSI controllers do not report bytes in use; NodeGetVolumeStats does, on the node.
  }

  async cleanup(pool: string): Promise<number> {
    this.pool('pool', pool);
    return 0; // the plugin owns its leftovers
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private pool(field: string, name: unknown): CsiPool {
    const p = typeof name === 'string' ? this.options.pools.get(name) : undefined;
    if (!p) throw invalid(field, `service ${this.service} has no pool ${JSON.stringify(name)}; pools: ${this.pools().join(', ')}`);
    return p;
  }

  private require(cap: 'snapshot' | 'expand'): void {
    if (!this.caps[cap]) throw new PollyError('UNSUPPORTED', `CSI plugin ${this.options.endpoint} cannot ${cap}`);
  }

  private capability(): CsiMessage {
    const access_mode = { mode: this.options.accessMode };
    return this.options.accessType === 'block' ? { block: {}, access_mode } : { mount: { fs_type: this.options.fsType, mount_flags: [] }, access_mode };
  }

  /** Every entry of a paged List call. */
  private async pages(rpc: 'ListVolumes' | 'ListSnapshots', signal?: AbortSignal): Promise<CsiMessage[]> {
    const out: CsiMessage[] = [];
    let token = '';
    for (let page = 0; page < 100_000; page++) {
      const res = await this.client.controllerCall(rpc, { max_entries: 1000, starting_token: token }, signal);
      out.push(...((res.entries ?? []) as CsiMessage[]));
      token = res.next_token ?? '';
      if (token === '') return out;
    }
    throw new PollyError('BACKEND_ERROR', `CSI plugin ${this.options.endpoint} ${rpc}: paging does not end`);
  }

  /** The plugin's volumes whose topology is this pool's (a pool without topology takes those without). */
  private async listVolumes(p: CsiPool, signal?: AbortSignal): Promise<BackendVolume[]> {
    return (await this.pages('ListVolumes', signal))
      .map((e) => e.volume as CsiMessage)
      .filter((v) => this.inPool(p, (v.accessible_topology ?? []) as CsiMessage[]))
      .filter((v) => BACKEND_ID.test(v.volume_id))
      .map((v): BackendVolume => ({ kind: 'volume', pool: p.name, backendId: v.volume_id, sizeBytes: Number(v.capacity_bytes) }));
  }

  private inPool(p: CsiPool, topology: readonly CsiMessage[]): boolean {
    if (!p.topology) return topology.length === 0 || this.options.pools.size === 1;
    const want = Object.entries(p.topology);
    return topology.some((t) => want.every(([k, v]) => t.segments?.[k] === v));
  }

  private async volumeSize(p: CsiPool, id: string, signal?: AbortSignal): Promise<number | undefined> {
    if (this.rpcs.has('GET_VOLUME')) {
      const res = await this.client.controllerCall('ControllerGetVolume', { volume_id: id }, signal);
      return Number(res.volume?.capacity_bytes);
    }
    if (!this.rpcs.has('LIST_VOLUMES')) return undefined;
    const found = (await this.listVolumes(p, signal)).find((v) => v.backendId === id);
    if (!found) throw new PollyError('NOT_FOUND', `volume ${id} not found on CSI plugin ${this.options.endpoint}`);
    return found.sizeBytes;
  }
}

export function createCsiDriver(service: ServiceSpec): CsiDriver {
  return new CsiDriver(service.name, parseCsiDriverOptions(service));
}
