/** Domain model. Plain readonly data; records in the store carry these shapes. */

export type Labels = Readonly<Record<string, string>>;

export type VolumeStatus = 'creating' | 'available' | 'attached' | 'deleting' | 'error';

export type AccessMode = 'rwo' | 'rox' | 'rwx';

export interface Quota {
  readonly maxVolumes?: number;
  readonly maxBytes?: number;
}

export interface PoolSpec {
  readonly name: string;
  /** Usable bytes when set; otherwise the backend's total. */
  readonly capacityBytes?: number;
  /** Provisioned bytes may reach total × overcommit (thin provisioning). */
  readonly overcommit: number;
  readonly zone?: string;
  readonly node?: string;
  readonly types: readonly string[];
  readonly labels: Labels;
  /** Highest IOPS a volume of this pool can get (0 = no IOPS guarantee offered). */
  readonly maxIops: number;
  /** Driver-specific settings (e.g. the dir driver's path). */
  readonly params: Readonly<Record<string, unknown>>;
}

export interface ServiceSpec {
  readonly name: string;
  readonly driver: string;
  readonly description?: string;
  readonly defaultType?: string;
  readonly defaultSizeBytes: number;
  readonly quota: Quota;
  readonly pools: readonly PoolSpec[];
  readonly driverConfig: Readonly<Record<string, unknown>>;
}

/** Mutable bookkeeping of a pool, one store record per pool. */
export interface PoolUsage {
  readonly id: string;
  readonly service: string;
  readonly pool: string;
  readonly provisionedBytes: number;
  readonly reservedBytes: number;
  readonly volumes: number;
}

/** Usage of a service for quotas, one store record per service. */
export interface ServiceUsage {
  readonly service: string;
  readonly volumes: number;
  readonly bytes: number;
}

export interface Attachment {
  readonly nodeId: string;
  readonly accessMode: AccessMode;
  readonly readOnly: boolean;
  readonly attachedAt: number;
  readonly device?: string;
  readonly mountPath?: string;
  /** What the backend said the node needs (a CSI plugin's publish_context), when it said anything. */
  readonly publishContext?: Readonly<Record<string, string>>;
}

export interface VolumeSource {
  readonly kind: 'snapshot' | 'volume';
  readonly id: string;
}

export interface Volume {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly pool: string;
  readonly backendId: string;
  readonly sizeBytes: number;
  readonly type?: string;
  readonly iops: number;
  readonly zone?: string;
  readonly networkName?: string;
  readonly labels: Labels;
  /** Driver/storage-admin fields (the 2016 `fields`). */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly parameters: Readonly<Record<string, string>>;
  readonly status: VolumeStatus;
  readonly reason?: string;
  /** Schedulers the volume is offered to (2016 offer/revoke). */
  readonly schedulers: readonly string[];
  /** The scheduler identity that created it, if a scheduler did. */
  readonly createdBy?: string;
  readonly attachments: readonly Attachment[];
  readonly source?: VolumeSource;
  /** The live (or not yet released) claim on the volume; at most one. */
  readonly claim?: VolumeClaimRef;
  /** The server replica that wrote a `creating` intent (several replicas only, D48). */
  readonly replica?: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface VolumeClaimRef {
  readonly id: string;
  readonly scheduler: string;
  readonly expiresAt: number;
}

export type SnapshotStatus = 'creating' | 'ready' | 'deleting' | 'error';

export interface Snapshot {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly pool: string;
  readonly backendId: string;
  readonly volumeId: string;
  readonly sizeBytes: number;
  readonly status: SnapshotStatus;
  readonly reason?: string;
  readonly labels: Labels;
  readonly createdBy?: string;
  readonly createdAt: number;
}

export interface SchedulerIdentity {
  readonly name: string;
  /** Services it may use; `*` for all. */
  readonly services: readonly string[] | '*';
}

/** Who is calling a use case; front doors build it from their authentication. */
export type Caller =
  | { readonly kind: 'admin'; readonly name: string }
  | { readonly kind: 'scheduler'; readonly name: string; readonly services: readonly string[] | '*' };

export const ADMIN: Caller = { kind: 'admin', name: 'admin' };

/**
 * A time-limited reservation made by accepting an offer (DESIGN.md §2). A capacity claim holds
 * `sizeBytes` of its pool as reserved bytes (and of its service's quota); a volume claim holds
 * the volume for its owner.
 */
export interface Claim {
  readonly id: string;
  readonly kind: 'capacity' | 'volume';
  /** The scheduler (caller name) that accepted the offer; only it may use the claim. */
  readonly scheduler: string;
  readonly offerId: string;
  readonly service: string;
  /** Pool id (`<service>/<pool>`). */
  readonly pool: string;
  readonly volumeId?: string;
  readonly sizeBytes: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** Where a node stands: `ready` (lease held), `unreachable` (lease expired), `fenced` (attachments revoked), `recovering` (back after a fence or restart, cleaning up before it is ready). */
export type NodeState = 'ready' | 'unreachable' | 'fenced' | 'recovering';

/** A storage pool an agent contributes from its own configuration (node-local). */
export interface NodePool {
  readonly service: string;
  readonly name: string;
  readonly capacityBytes?: number;
  readonly types: readonly string[];
  readonly labels: Labels;
  readonly zone?: string;
}

/** A host running an agent, one store record per node. */
export interface NodeRecord {
  readonly id: string;
  readonly labels: Labels;
  readonly state: NodeState;
  /** No new attachments while cordoned. */
  readonly cordoned: boolean;
  readonly pools: readonly NodePool[];
  /** Block devices and paths the node contributes (informational). */
  readonly devices: readonly string[];
  readonly agentVersion: string;
  /** The in-process agent of a server (never leaves with its lease while the server runs). */
  readonly inProcess: boolean;
  readonly registeredAt: number;
  /** Last heartbeat (or registration); the lease runs from here. */
  readonly renewedAt: number;
  readonly leaseMs: number;
  /** Volumes revoked from the node by its last fence; the agent must release them before it is ready. */
  readonly fencedVolumes: readonly string[];
  readonly updatedAt: number;
}

/** One entry of the timeline of node and failover events. */
export interface PollyEvent {
  readonly id: string;
  readonly at: number;
  readonly type: string;
  readonly nodeId?: string;
  readonly volumeId?: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}
