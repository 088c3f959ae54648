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
 * Node-side operations (attach, stage, publish …) join this port with the agent.
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

export interface StorageDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** The pool names this driver instance serves. */
  pools(): readonly string[];
  capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity>;
  create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume>;
  delete(ref: BackendRef, options?: OperationOptions): Promise<void>;
  snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume>;
  deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void>;
  expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume>;
  /** Every volume and snapshot in the pool, managed or not (for reconciliation and adoption). */
  list(pool: string, options?: OperationOptions): Promise<BackendVolume[]>;
  /** Bytes used by a volume on the backend, when known. */
  usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined>;
  /** Removes leftovers of interrupted operations (e.g. half-made copies); returns how many. */
  cleanup(pool: string, options?: OperationOptions): Promise<number>;
  close(): Promise<void>;
}
