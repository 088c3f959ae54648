import { ChangeBus, NotifyingStore } from './changes.js';
import { acceptOffer, expireClaims, getClaim, listClaims, releaseClaim, type AcceptInput, type ClaimFilter } from './claims.js';
import { DEFAULT_CLAIM_SETTINGS, type ClaimSettings, type CoreContext } from './context.js';
import { OfferFeed, type OfferEvent, type OfferFeedOptions } from './offer-feed.js';
import { declineOffer, listOffers, offerAudience, type DeclineInput, type OfferQuery } from './offers.js';
import { ServiceLedger } from './ledger.js';
import { followCatalog } from './catalog-watch.js';
import type { Caller, NodeRecord, ServiceSpec } from './model.js';
import { OperationTracker } from './operations.js';
import { Placement, type PlacementOptions } from './placement/placement.js';
import { createPlacementRegistry } from './placement/registry.js';
import type { Clock } from './ports/clock.js';
import type { Leadership } from './ports/leadership.js';
import type { Logger } from './ports/logger.js';
import type { Store } from './ports/store.js';
import type { StorageDriver } from './ports/storage-driver.js';
import { dumpStore, eraseStore, listPools, listServices, refreshCapacity } from './catalog.js';
import { reconcile, type ReconcileOptions, type ReconcileReport } from './reconciler.js';
import { copySnapshot } from './snapshot-copy.js';
import { createSnapshot, deleteSnapshot, getSnapshot, listSnapshots, type CreateSnapshotInput, type SnapshotFilter } from './snapshots.js';
import { adoptVolume, listUnmanaged, type AdoptInput } from './unmanaged.js';
import { createVolume, type CreateOptions, type CreateVolumeInput } from './volume-create.js';
import {
  deleteVolume, getVolume, labelVolume, listVolumes, offerVolume, revokeVolume,
  type AttachInput, type VolumeFilter,
} from './volumes.js';
import type { Labels } from './model.js';
import {
  bindInstance, deprovisionInstance, failInterruptedInstances, getBinding, getInstance, provisionInstance, unbindInstance, updateInstance,
  type BindInput, type ProvisionInput,
} from './service-instances.js';
import {
  expandVolumeOnNode, listNodeVolumes, nodeVolumeStats, publishVolume, reconcileNodeVolumes, stageVolume, unpublishVolume, unstageVolume,
  type NodePublishInput, type NodeStageInput,
} from './node-volumes.js';
import type { OperationOptions } from './ports/storage-driver.js';
import { EVENT_RETENTION_MS, listEvents, trimEvents, type EventFilter } from './events.js';
import { DEFAULT_NODE_OPTIONS, NodeService, type NodeOptions } from './nodes.js';
import { nodeOfPool, nodePoolFollower, restoreNodePools } from './node-pools.js';
import { NodeRoutedDriver } from './node-routed-driver.js';
import { OfferIndex } from './offer-index.js';
import { reconcileNodes, type NodeReconcileReport } from './node-reconcile.js';
import { assertAdmin } from './access.js';
import { noNodeChannel, type NodeChannel } from './ports/node-channel.js';
import { capacityFor, type CapacityQuery } from './capacity.js';
import { attachToNode, detachFromNode } from './controller-publish.js';
import { InFlight } from './in-flight.js';
import { expandVolume } from './volume-expand.js';
import { modifyVolume, type ModifyVolumeInput } from './volume-modify.js';

export interface CoreDeps {
  readonly store: Store;
  readonly services: readonly ServiceSpec[];
  readonly drivers: ReadonlyMap<string, StorageDriver>;
  readonly placement: PlacementOptions;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Claim TTLs (default: 5 min, at most 1 h). */
  readonly claims?: ClaimSettings;
  readonly offerFeed?: OfferFeedOptions;
  /** The local node id when this process does node-side work (in-process agent). */
  readonly nodeId?: string;
  /** How node-side work reaches the nodes' agents (default: no agents). */
  readonly nodeChannel?: NodeChannel;
  readonly nodes?: NodeOptions;
  /** This replica's name when several share the store (see CoreContext.replica). */
  readonly replica?: string;
}

/**
 * The use cases of Polly, one method each, for every front door. Callers pass who is asking;
 * every rule (tenancy, quotas, placement, states) is enforced beneath.
 */
export class Polly {
  readonly ctx: CoreContext;
  readonly operations: OperationTracker;
  /** Live offers per scheduler, for watchers. */
  readonly offerFeed: OfferFeed;
  /** Nodes, leases, fencing and attach/detach through the nodes' agents. */
  readonly nodes: NodeService;
  /** Operations in flight per volume/name, for front doors that must refuse a second one (CSI ABORTED). */
  readonly inFlight = new InFlight();
  lastReconcile?: ReconcileReport;
  /** Set when this is one of several replicas (see /v1/version). */
  leadership?: Leadership;

  private constructor(ctx: CoreContext, nodes: NodeService, feedOptions?: OfferFeedOptions) {
    this.ctx = ctx;
    this.nodes = nodes;
    this.operations = new OperationTracker(ctx.clock);
    this.offerFeed = new OfferFeed(ctx, feedOptions);
  }

  static async open(deps: CoreDeps): Promise<Polly> {
    // Every write of core goes through the notifying store, so offers see every change.
    const changes = new ChangeBus();
    const store = new NotifyingStore(deps.store, changes);
    const ledgers = new Map(deps.services.map((s) => [s.name, new ServiceLedger(s, store)]));
    // Pools contributed by agents are served by their node (see node-routed-driver.ts).
    let nodes: NodeService | undefined;
    const drivers = new Map([...deps.drivers].map(([service, d]) => [service, new NodeRoutedDriver(
      d, service, (pool) => nodeOfPool(ctx, service, pool),
      (node, kind, volumeId, args) => nodes!.dispatch(node, kind, volumeId, args),
    ) as StorageDriver]));
    const ctx: CoreContext = {
      store,
      services: new Map(deps.services.map((s) => [s.name, s])),
      drivers,
      ledgers,
      placement: new Placement(createPlacementRegistry(), deps.placement),
      clock: deps.clock,
      logger: deps.logger,
      changes,
      claims: deps.claims ?? DEFAULT_CLAIM_SETTINGS,
      ...(deps.nodeId === undefined ? {} : { nodeId: deps.nodeId }),
      ...(deps.replica === undefined ? {} : { replica: deps.replica }),
      offerIndex: new OfferIndex(store, changes),
    };
    // A store shared with other replicas: follow their writes, watching before loading so nothing
    // falls between the load and the watch.
    let onNode: ((node: NodeRecord) => void) | undefined; // bound once the context exists
    const stopWatches = deps.store.watch === undefined ? [] : [await followCatalog(deps.store, [...ledgers.values()], changes, (n) => onNode?.(n))];
    for (const l of ledgers.values()) await l.load();
    await refreshCapacity(ctx);
    await restoreNodePools(ctx);
    onNode = nodePoolFollower(ctx);
    nodes = new NodeService(ctx, deps.nodeChannel ?? noNodeChannel, deps.nodes ?? DEFAULT_NODE_OPTIONS);
    const polly = new Polly(ctx, nodes, deps.offerFeed);
    polly.stopWatches = stopWatches;
    return polly;
  }

  private stopWatches: (() => Promise<void>)[] = [];

  createVolume = (caller: Caller, input: CreateVolumeInput, options?: CreateOptions) => createVolume(this.ctx, caller, input, options);
  getVolume = (caller: Caller, id: string) => getVolume(this.ctx, caller, id);
  listVolumes = (caller: Caller, filter: VolumeFilter, limit?: number, cursor?: string) => listVolumes(this.ctx, caller, filter, limit, cursor);
  deleteVolume = (caller: Caller, id: string) => deleteVolume(this.ctx, caller, id);
  labelVolume = (caller: Caller, id: string, set?: Labels, remove?: readonly string[]) => labelVolume(this.ctx, caller, id, set, remove);
  offerVolume = (caller: Caller, id: string, schedulers: readonly string[]) => offerVolume(this.ctx, caller, id, schedulers);
  revokeVolume = (caller: Caller, id: string, schedulers: readonly string[]) => revokeVolume(this.ctx, caller, id, schedulers);
  attachVolume = (caller: Caller, id: string, input: AttachInput) => this.nodes.attach(caller, id, input);
  detachVolume = (caller: Caller, id: string, nodeId: string) => this.nodes.detach(caller, id, nodeId);
  listNodes = (caller: Caller) => this.nodes.listNodes(caller);
  getNode = (caller: Caller, id: string) => this.nodes.getNode(caller, id);
  cordonNode = (caller: Caller, id: string, cordoned: boolean) => this.nodes.cordonNode(caller, id, cordoned);
  drainNode = (caller: Caller, id: string) => this.nodes.drainNode(caller, id);
  listEvents = (caller: Caller, filter?: EventFilter, limit?: number, cursor?: string) => listEvents(this.ctx, caller, filter, limit, cursor);
  createSnapshot = (caller: Caller, input: CreateSnapshotInput, options?: OperationOptions) => createSnapshot(this.ctx, caller, input, options);
  getSnapshot = (caller: Caller, id: string) => getSnapshot(this.ctx, caller, id);
  copySnapshot = (caller: Caller, id: string, name: string, options?: OperationOptions) => copySnapshot(this.ctx, caller, id, name, options);
  listSnapshots = (caller: Caller, filter: SnapshotFilter, limit?: number, cursor?: string) => listSnapshots(this.ctx, caller, filter, limit, cursor);
  deleteSnapshot = (caller: Caller, id: string) => deleteSnapshot(this.ctx, caller, id);
  listUnmanaged = (caller: Caller, service?: string) => listUnmanaged(this.ctx, caller, service);
  adoptVolume = (caller: Caller, input: AdoptInput) => adoptVolume(this.ctx, caller, input);
  listServices = (caller: Caller) => listServices(this.ctx, caller);
  listPools = (caller: Caller, service?: string) => listPools(this.ctx, caller, service);
  dumpStore = (caller: Caller, prefix?: string, limit?: number, after?: string) => dumpStore(this.ctx, caller, prefix, limit, after);
  eraseStore = (caller: Caller) => eraseStore(this.ctx, caller);
  refreshCapacity = async () => {
    await refreshCapacity(this.ctx);
    this.ctx.changes.emit({ keys: [] });
  };
  listOffers = (caller: Caller, query?: OfferQuery) => listOffers(this.ctx, caller, query);
  acceptOffer = (caller: Caller, offerId: string, input?: AcceptInput) => acceptOffer(this.ctx, caller, offerId, input);
  declineOffer = (caller: Caller, offerId: string, input?: DeclineInput) => declineOffer(this.ctx, caller, offerId, input);
  listClaims = (caller: Caller, filter?: ClaimFilter) => listClaims(this.ctx, caller, filter);
  getClaim = (caller: Caller, id: string) => getClaim(this.ctx, caller, id);
  releaseClaim = (caller: Caller, id: string) => releaseClaim(this.ctx, caller, id);
  /** Streams offer changes for the caller (or, for admins, a named scheduler); see OfferFeed.subscribe. */
  watchOffers = (caller: Caller, query: OfferQuery, lastEventId: string | undefined, listener: (e: OfferEvent) => void) =>
    this.offerFeed.subscribe(offerAudience(caller, query), lastEventId, listener);
  /** Releases expired claims; the leader's loop calls it periodically. */
  expireClaims = () => expireClaims(this.ctx);
  expandVolume = (caller: Caller, id: string, sizeBytes: number, options?: OperationOptions) => expandVolume(this.ctx, caller, id, sizeBytes, options);
  failInterruptedInstances = () => failInterruptedInstances(this.ctx);
  provisionInstance = (caller: Caller, input: ProvisionInput, background: boolean) => provisionInstance(this.ctx, caller, input, background);
  getInstance = (caller: Caller, id: string) => getInstance(this.ctx, caller, id);
  updateInstance = (caller: Caller, id: string, change: { plan?: string; sizeBytes?: number }, background: boolean) => updateInstance(this.ctx, caller, id, change, background);
  deprovisionInstance = (caller: Caller, id: string, background: boolean) => deprovisionInstance(this.ctx, caller, id, background);
  bindInstance = (caller: Caller, input: BindInput) => bindInstance(this.ctx, caller, input);
  getBinding = (caller: Caller, instanceId: string, bindingId: string) => getBinding(this.ctx, caller, instanceId, bindingId);
  unbindInstance = (caller: Caller, instanceId: string, bindingId: string) => unbindInstance(this.ctx, caller, instanceId, bindingId);
  modifyVolume = (caller: Caller, id: string, input: ModifyVolumeInput) => modifyVolume(this.ctx, caller, id, input);
  capacityFor = (caller: Caller, query: CapacityQuery) => capacityFor(this.ctx, caller, query);
  // Node-side work on this host (see node-volumes.ts).
  stageVolume = (caller: Caller, id: string, input: NodeStageInput, options?: OperationOptions) => stageVolume(this.ctx, caller, id, input, options);
  unstageVolume = (caller: Caller, id: string, stagingPath: string, options?: OperationOptions) => unstageVolume(this.ctx, caller, id, stagingPath, options);
  publishVolume = (caller: Caller, id: string, input: NodePublishInput, options?: OperationOptions) => publishVolume(this.ctx, caller, id, input, options);
  unpublishVolume = (caller: Caller, id: string, targetPath: string, options?: OperationOptions) => unpublishVolume(this.ctx, caller, id, targetPath, options);
  expandVolumeOnNode = (caller: Caller, id: string, volumePath: string, options?: OperationOptions) => expandVolumeOnNode(this.ctx, caller, id, volumePath, options);
  nodeVolumeStats = (caller: Caller, id: string, volumePath: string) => nodeVolumeStats(this.ctx, caller, id, volumePath);
  listNodeVolumes = (caller: Caller) => listNodeVolumes(this.ctx, caller);
  reconcileNodeVolumes = (caller: Caller) => reconcileNodeVolumes(this.ctx, caller);

  lastNodeReconcile?: NodeReconcileReport;

  async reconcile(options: ReconcileOptions): Promise<ReconcileReport> {
    this.lastReconcile = await reconcile(this.ctx, options);
    this.lastNodeReconcile = await reconcileNodes(this.ctx, this.nodes).catch((err: unknown) => {
      this.ctx.logger.error({ err }, 'node reconcile failed');
      return this.lastNodeReconcile;
    });
    await trimEvents(this.ctx, this.ctx.clock.now() - EVENT_RETENTION_MS).catch((err: unknown) => this.ctx.logger.error({ err }, 'trimming events failed'));
    return this.lastReconcile;
  }

  /** `polly doctor`: the last passes (or a new one when `run`), with the nodes by state. */
  async doctor(caller: Caller, run: boolean): Promise<{ reconcile: ReconcileReport | null; nodes: NodeReconcileReport | null }> {
    assertAdmin(caller, 'running the doctor');
    if (run) await this.reconcile({ intentAgeMs: 15 * 60_000, quiescent: false, idempotencyTtlMs: Number.MAX_SAFE_INTEGER });
    return { reconcile: this.lastReconcile ?? null, nodes: this.lastNodeReconcile ?? null };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.stopWatches.map((stop) => stop()));
    this.offerFeed.close();
    this.ctx.offerIndex?.close();
    for (const d of this.ctx.drivers.values()) await d.close();
  }
}
