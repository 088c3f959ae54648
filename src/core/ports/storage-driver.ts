/**
 * StorageDriver port: what Polly needs from a storage backend.
 *
 * Contract (checked by src/drivers/driver-contract.ts against every driver):
 * - Every operation is idempotent. `create` keyed by the Polly volume id: calling it again for an
 *   id that exists returns the existing volume. `delete`/`deleteSnapshot` of something that does
 *   not exist is not an error.
 * - Pools are named by the service configuration; a driver refuses a pool it does not know with
 *   a PollyError INVALID_ARGUMENT.
 * - A `backendId` is what the driver uses to find a volume inside a pool. For volumes Polly
 *   creates it equals the Polly id; unmanaged volumes found by `list` carry the driver's own name.
 *   Drivers validate every backendId they are handed before it touches the backend.
 * - Long operations report progress through `onProgress` and honour `signal`.
 * - Nothing half-made stays visible: a failed or aborted create/snapshot leaves no volume behind.
 * - `node` is the node-side half (attach, stage, publish …), run on the host that uses the volume.
 */
export interface DriverCapabilities {
  readonly snapshot: boolean;
  readonly clone: boolean;
  readonly expand: boolean;
  readonly block: boolean;
  /** Volumes live on one node's local storage (the agent of that node does the work). */
  readonly nodeLocal: boolean;
}

export interface PoolCapacity {
  readonly pool: string;
  /** Usable bytes of the pool (the configured cap when smaller than the backend's). */
  readonly totalBytes: number;
  /** Bytes the backend reports free now. */
  readonly freeBytes: number;
}

export interface Progress {
  readonly doneBytes: number;
  readonly totalBytes: number;
}

export type ProgressListener = (progress: Progress) => void;

export interface BackendRef {
  readonly pool: string;
  readonly backendId: string;
}

export interface BackendVolume extends BackendRef {
  readonly kind: 'volume' | 'snapshot';
  /** Provisioned size when the backend knows it, else bytes in use. */
  readonly sizeBytes: number;
  readonly createdAt?: number;
}

export interface OperationOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
}

export interface CreateVolumeRequest {
  readonly volumeId: string;
  readonly pool: string;
  readonly sizeBytes: number;
  readonly parameters: Readonly<Record<string, string>>;
  /** Content source: an existing snapshot or volume of the same service. */
  readonly source?: { readonly kind: 'snapshot' | 'volume'; readonly ref: BackendRef };
}

export interface ControllerAccess {
  readonly accessMode: 'rwo' | 'rox' | 'rwx';
  readonly readOnly: boolean;
}

export interface StorageDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** The work done on the node where a volume is used (see NodeSideDriver). */
  readonly node: NodeSideDriver;
  /** The pool names this driver instance serves. */
  pools(): readonly string[];
  /**
   * What the driver can do on one pool, when that differs from `capabilities` (a pool a node
   * contributes is served by that node's driver). Optional: `capabilities` holds for every pool.
   */
  capabilitiesOf?(pool: string): DriverCapabilities | undefined;
  capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity>;
  create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume>;
  delete(ref: BackendRef, options?: OperationOptions): Promise<void>;
  snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume>;
  deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void>;
  expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume>;
  /** Every volume and snapshot in the pool, managed or not (for reconciliation and adoption). */
  list(pool: string, options?: OperationOptions): Promise<BackendVolume[]>;
  /**
   * Like `list` without sizes, for drivers whose `list` costs work per entry (e.g. reading
   * metadata); the reconciler only needs to know what is there. Optional: `list` is used instead.
   */
  listIds?(pool: string, options?: OperationOptions): Promise<(BackendRef & { readonly kind: 'volume' | 'snapshot' })[]>;
  /**
   * Makes a volume reachable from a node on the backend side (a CSI plugin's
   * ControllerPublishVolume); returns what the node needs to use it. Optional: most backends
   * need nothing here. Idempotent; `controllerUnpublish` of something not published is not an error.
   */
  controllerPublish?(ref: BackendRef, nodeId: string, access: ControllerAccess, options?: OperationOptions): Promise<Readonly<Record<string, string>>>;
  controllerUnpublish?(ref: BackendRef, nodeId: string, options?: OperationOptions): Promise<void>;
  /** Bytes used by a volume on the backend, when known. */
  usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined>;
  /** Removes leftovers of interrupted operations (e.g. half-made copies); returns how many. */
  cleanup(pool: string, options?: OperationOptions): Promise<number>;
  /**
   * Optional: removes a volume the catalog has no record of when it holds nothing at all, and
   * says whether it did. The reconciler offers it every unmanaged volume. A driver offers it when
   * its delete does not wait for the removal to reach the disk (the dir driver's empty volumes,
   * docs/decisions.md D95): a power loss may then bring back an empty volume whose record is gone.
   * Nothing can be lost: creates write their intent before the backend volume exists, so a
   * volume without a record was never handed out, or was deleted.
   */
  removeEmptyOrphan?(ref: BackendRef, options?: OperationOptions): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Node-side half of a driver: the work done on the host where a volume is used (by the agent,
 * or the server's in-process agent on a one-machine install).
 *
 * Contract:
 * - Every call is idempotent and safe to repeat after a crash: attaching an attached volume,
 *   mounting at a path where the same volume is mounted, or unmounting a path that is not mounted
 *   is not an error.
 * - Paths (staging, target) are absolute and already checked by the caller with `checkHostPath`;
 *   the driver still refuses a path that is not absolute or contains `..` segments.
 * - `stage` mounts the volume's filesystem (mount access) at the staging path; `publish` bind
 *   mounts it at the target (a directory for mount access, a file for block access), read-only
 *   when asked. Unpublish/unstage/detach undo in reverse order.
 * - `attachedVolumes` is rebuilt from the kernel (mount table, loop devices), never from memory,
 *   so an agent can reconcile after a restart.
 */
export interface NodeAccess {
  readonly mode: 'mount' | 'block';
  readonly readonly: boolean;
  /** Filesystem for mount access; drivers choose their default when absent. */
  readonly fsType?: string;
  readonly mountFlags?: readonly string[];
}

export interface AttachResult {
  /** Block device of the volume on this node (image driver), absent for file-tree volumes. */
  readonly devicePath?: string;
}

export interface NodeVolumeStats {
  readonly totalBytes: number;
  readonly availableBytes: number;
  readonly usedBytes: number;
  readonly totalInodes?: number;
  readonly freeInodes?: number;
  readonly usedInodes?: number;
}

export interface NodeAttachment extends BackendRef {
  readonly devicePath?: string;
  /** Paths where the volume is mounted on this node now. */
  readonly mountPaths: readonly string[];
}

export interface NodeSideDriver {
  attach(ref: BackendRef, access: NodeAccess, options?: OperationOptions): Promise<AttachResult>;
  detach(ref: BackendRef, options?: OperationOptions): Promise<void>;
  stage(ref: BackendRef, stagingPath: string, access: NodeAccess, options?: OperationOptions): Promise<void>;
  unstage(ref: BackendRef, stagingPath: string, options?: OperationOptions): Promise<void>;
  publish(ref: BackendRef, stagingPath: string, targetPath: string, access: NodeAccess, options?: OperationOptions): Promise<void>;
  unpublish(ref: BackendRef, targetPath: string, options?: OperationOptions): Promise<void>;
  /** Grows what the node sees (loop device capacity, filesystem) after a controller expand. */
  expandOnNode(ref: BackendRef, path: string, options?: OperationOptions): Promise<void>;
  stats(ref: BackendRef, path: string): Promise<NodeVolumeStats>;
  /** Volumes of this driver attached or mounted on this node, read from the kernel. */
  attachedVolumes(): Promise<NodeAttachment[]>;
}
