/**
 * Wire types of the Polly admin REST API (/v1). These are the shapes the server sends and
 * accepts as JSON; sizes are bytes, times are ISO-8601 strings.
 */

export type Labels = Record<string, string>;

export type VolumeStatus = 'creating' | 'available' | 'attached' | 'deleting' | 'error';

export interface ServerVersion {
  version: string;
  api: 'v1' | string;
  node: string;
  store: string;
}

/** Answer of /healthz and /readyz; `ok` is false for a non-2xx status (e.g. 503 while starting). */
export interface HealthReport {
  ok: boolean;
  status: number;
  body: unknown;
}

export interface Quota {
  maxVolumes?: number;
  maxBytes?: number;
}

export interface Service {
  name: string;
  driver: string;
  description?: string;
  defaultType?: string;
  /** Bytes. */
  defaultSize: number;
  quota: Quota;
  usage: { volumes: number; bytes: number };
  pools: string[];
}

export interface Pool {
  id: string;
  service: string;
  name: string;
  zone?: string;
  node?: string;
  types: string[];
  labels: Labels;
  totalBytes: number;
  freeBytes: number;
  /** Usable bytes including overcommit. */
  capacityBytes: number;
  provisionedBytes: number;
  reservedBytes: number;
  overcommit: number;
  volumes: number;
  maxIops: number;
  /** Pools a node contributes: what that node's driver can do there. */
  capabilities?: { snapshot: boolean; clone: boolean; expand: boolean; block: boolean; nodeLocal: boolean };
}

export interface VolumeAttachment {
  nodeId: string;
  accessMode: string;
  readOnly: boolean;
  attachedAt: string;
}

export interface Volume {
  id: string;
  name: string;
  service: string;
  pool: string;
  /** Bytes. */
  size: number;
  type?: string;
  iops: number;
  zone?: string;
  labels: Labels;
  fields: Record<string, unknown>;
  parameters: Record<string, unknown>;
  status: VolumeStatus | string;
  reason?: string;
  schedulers: string[];
  createdBy?: string;
  attachments: VolumeAttachment[];
  source?: { kind: 'snapshot' | 'volume' | string; id: string };
  createdAt: string;
  updatedAt: string;
}

export interface Snapshot {
  id: string;
  name: string;
  service: string;
  pool: string;
  volumeId: string;
  /** Bytes. */
  size: number;
  status: string;
  labels: Labels;
  createdAt: string;
}

/** A backend volume that Polly does not manage (yet); see adoptVolume. */
export interface UnmanagedVolume {
  service: string;
  pool: string;
  backendId: string;
  kind: string;
  /** Bytes. */
  size: number;
}

export interface StoreEntry {
  key: string;
  revision: number | string;
  value: unknown;
}

export interface Page<T> {
  items: T[];
  /** Cursor of the next page; absent on the last page. */
  next?: string;
}

export interface Paging {
  limit?: number;
  cursor?: string;
}

export interface VolumeFilter {
  service?: string;
  name?: string;
  status?: string;
  scheduler?: string;
  /** Every label must match (sent as repeated `label=k=v`). */
  labels?: Labels;
}

export interface SnapshotFilter {
  service?: string;
  volume?: string;
}

export type VolumeSourceRequest = { snapshot: string } | { volume: string };

export interface CreateVolumeRequest {
  service: string;
  name: string;
  /** Bytes. */
  size: number;
  type?: string;
  iops?: number;
  zone?: string;
  labels?: Labels;
  fields?: Record<string, unknown>;
  schedulers?: string[];
  source?: VolumeSourceRequest;
  /** A capacity claim (clm-…) of the caller: the volume takes its pool and reservation. */
  claim?: string;
}

export interface AttachRequest {
  nodeId: string;
  accessMode?: 'rwo' | 'rox' | 'rwx';
  readOnly?: boolean;
  /** A volume claim (clm-…) of the caller on this volume, consumed by the attach. */
  claim?: string;
}

/** Storage offered to a scheduler: free capacity of a pool, or an existing volume. */
export interface Offer {
  id: string;
  kind: 'capacity' | 'volume';
  service: string;
  pool: string;
  zone?: string;
  node?: string;
  types?: string[];
  labels: Labels;
  /** Capacity offers. */
  freeBytes?: number;
  maxVolumeBytes?: number;
  maxIops?: number;
  /** Volume offers. */
  volumeId?: string;
  name?: string;
  size?: number;
  type?: string;
}

export interface AcceptOfferRequest {
  /** Bytes to reserve (capacity offers). */
  size?: number;
  /** Seconds the claim lives. */
  ttl?: number;
}

export interface Claim {
  id: string;
  kind: 'capacity' | 'volume';
  scheduler: string;
  offerId: string;
  service: string;
  pool: string;
  volumeId?: string;
  size: number;
  createdAt: string;
  expiresAt: string;
}

export interface OfferDecline {
  offerId: string;
  scheduler: string;
  until: string;
}

/** One event of GET /v1/offers/watch. */
export type OfferStreamEvent =
  | { id: string; type: 'snapshot'; offers: Offer[] }
  | { id: string; type: 'added' | 'changed'; offer: Offer }
  | { id: string; type: 'rescinded'; offerId: string };

export interface LabelChange {
  set?: Labels;
  remove?: string[];
}

export interface CreateSnapshotRequest {
  name: string;
  labels?: Labels;
}

export interface AdoptRequest {
  service: string;
  pool: string;
  backendId: string;
  name: string;
  labels?: Labels;
}

export interface OperationProgress {
  doneBytes: number;
  totalBytes: number;
}

export interface OperationError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface Operation<T = unknown> {
  id: string;
  kind: string;
  status: 'running' | 'succeeded' | 'failed';
  progress: OperationProgress;
  result?: T;
  error?: OperationError;
}

/**
 * What a request made with `Prefer: respond-async` gives back: either the finished resource
 * (the server chose to answer at once) or a running operation to poll.
 */
export type Started<T> = { done: true; value: T } | { done: false; operation: Operation<T> };

export interface EraseResult {
  erased: number;
}

/** A node and its agent (GET /v1/nodes). */
export interface Node {
  id: string;
  labels: Labels;
  state: 'ready' | 'unreachable' | 'fenced' | 'recovering';
  cordoned: boolean;
  connected: boolean;
  inProcess: boolean;
  pools: { service: string; name: string; capacityBytes?: number; types: string[]; labels: Labels; zone?: string }[];
  devices: string[];
  agentVersion: string;
  registeredAt: string;
  renewedAt: string;
  leaseExpiresAt: string;
  fenceAt: string;
  fencedVolumes: string[];
  volumes?: { id: string; name: string; service: string; readOnly: boolean; mountPath?: string }[];
}

/** One entry of the node and failover timeline (GET /v1/events). */
export interface NodeEvent {
  id: string;
  at: string;
  type: string;
  nodeId?: string;
  volumeId?: string;
  message: string;
  details: Record<string, unknown>;
}

export interface EventFilter {
  node?: string;
  volume?: string;
  type?: string;
}

/** GET/POST /v1/doctor: what the reconciler found and did, catalog and nodes. */
export interface DoctorReport {
  reconcile: (Record<string, unknown> & { finished: string[]; rolledBack: string[]; deleted: string[]; missingBackend: string[]; unmanaged: unknown[]; usageFixed: string[]; cleaned: number; errors: string[] }) | null;
  nodes: {
    startedAt: string;
    finishedAt: string;
    nodes: Record<string, number>;
    revoked: string[];
    withoutAgent: string[];
    released: string[];
    remounted: string[];
    /** Intents on node pools settled through their agent. */
    intents?: { finished: string[]; rolledBack: string[]; deleted: string[] };
    /** Intents on pools of nodes whose agent is away (`<id>@<node>`). */
    waiting?: string[];
    errors: string[];
  } | null;
}
