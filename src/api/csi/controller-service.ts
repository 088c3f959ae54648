import { PollyError, invalid } from '../../core/errors.js';
import { ADMIN, type Snapshot, type Volume, type VolumeSource } from '../../core/model.js';
import { MAX_LIST_LIMIT } from '../../core/ports/store.js';
import { anyDriver, type CsiDeps } from './csi-deps.js';
import { pollyNameOf } from './names.js';
import { parseMutable, parseParameters } from './parameters.js';
import { timestamp, type Handler, type Message } from './rpc.js';
import { constraintsOf, topologyOf } from './topology.js';
import {
  accessModeOf, checkMap, checkMaps, fitsRange, optionalString, parseCapabilities, parseCapability,
  parseCapacityRange, requireString, type Capability,
} from './validation.js';

/**
 * CSI Controller service: every RPC validates its request, then calls the same core use cases as
 * the REST API (tenancy, quotas, placement identical). Operations on one volume (or one new
 * name) at a time: a second one while the first runs is ABORTED.
 */
export function controllerService(deps: CsiDeps): Record<string, Handler> {
  const { polly, caller } = deps;
  const once = <T>(keys: string[], what: string, fn: () => Promise<T>) => polly.inFlight.run(keys, what, fn);

  const capabilitiesFit = (service: string, caps: readonly Capability[]): string | undefined => {
    const driver = deps.capabilitiesOf(service);
    if (caps.some((c) => c.kind === 'block') && !driver?.block) return `service ${service} has no block volumes`;
    return undefined;
  };

  const csiVolume = (v: Volume): Message => ({
    capacity_bytes: v.sizeBytes,
    volume_id: v.id,
    volume_context: { 'polly.io/service': v.service, 'polly.io/pool': v.pool },
    ...(v.source ? { content_source: contentSource(v.source) } : {}),
    accessible_topology: topologyOf(deps.pools.get(v.pool)),
  });

  const csiSnapshot = (s: Snapshot): Message => ({
    size_bytes: s.sizeBytes, snapshot_id: s.id, source_volume_id: s.volumeId, creation_time: timestamp(s.createdAt), ready_to_use: s.status === 'ready',
  });

  const volumeStatus = (v: Volume): Message => ({
    published_node_ids: v.attachments.map((a) => a.nodeId),
    volume_condition: { abnormal: v.status === 'error', message: v.status === 'error' ? (v.reason ?? 'the volume is in error') : `volume is ${v.status}` },
  });

  /** The volume, or undefined when it does not exist (or the caller may not see it). */
  const findVolume = async (id: string): Promise<Volume | undefined> => {
    try {
      return await polly.getVolume(caller, id);
    } catch (e) {
      if (e instanceof PollyError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  };

  /**
   * DeleteVolume of a volume still ControllerPublished to this plugin's own node but neither
   * staged nor published there (the kernel's mount table shows no path of it): nothing uses it,
   * so it is ControllerUnpublished first and then deleted, as the community sanity suite expects.
   * An attachment to any other node, or one with a mount, stays FAILED_PRECONDITION ("volume in
   * use", spec DeleteVolume errors).
   */
  const releaseIdleAttachment = async (volume: Volume): Promise<void> => {
    if (volume.attachments.length === 0 || volume.attachments.some((a) => a.nodeId !== deps.nodeId)) return;
    let mounted: readonly string[];
    try {
      mounted = (await polly.listNodeVolumes(ADMIN)).find((v) => v.volumeId === volume.id)?.mountPaths ?? [];
    } catch {
      return; // this server does not serve its node: keep the attachment (and the refusal)
    }
    if (mounted.length === 0) await polly.detachVolume(caller, volume.id, deps.nodeId);
  };

  const pageSize = (field: string, value: unknown): number => {
    const n = Number(value ?? 0);
    if (!Number.isInteger(n) || n < 0) throw invalid(field, 'must not be negative');
    // Pages stay well inside gRPC's default 4 MiB message; fewer than asked is fine with a next_token.
    return n === 0 ? DEFAULT_PAGE : Math.min(n, MAX_PAGE);
  };

  return {
    CreateVolume: async (req) => {
      const name = pollyNameOf('name', req.name);
      const caps = parseCapabilities('volume_capabilities', req.volume_capabilities);
      checkMaps(req, ['secrets']);
      const params = parseParameters('parameters', checkMap('parameters', req.parameters), deps.defaultService);
      const mutable = parseMutable('mutable_parameters', checkMap('mutable_parameters', req.mutable_parameters));
      const range = parseCapacityRange('capacity_range', req.capacity_range);
      const unfit = capabilitiesFit(params.service, caps);
      if (unfit !== undefined) throw invalid('volume_capabilities', unfit);
      const source = sourceOf(req.volume_content_source);
      const wanted = req.accessibility_requirements as { requisite?: Message[]; preferred?: Message[] } | undefined;
      // Requisite segments constrain placement; without them, preferred ones do (each is a node/zone Polly may use).
      const topo = constraintsOf('accessibility_requirements', (wanted?.requisite?.length ? wanted.requisite : wanted?.preferred) ?? []);

      let sizeBytes: number | undefined;
      if (range.required > 0) sizeBytes = range.required;
      else if (!source) {
        const def = deps.defaultSizes.get(params.service);
        sizeBytes = def !== undefined && range.limit > 0 ? Math.min(def, range.limit) : def;
      }

      const iops = mutable.iops ?? params.iops;
      const create = (size: number | undefined) => polly.createVolume(caller, {
        service: params.service, name,
        ...(size !== undefined ? { sizeBytes: size } : {}),
        ...(params.type !== undefined ? { type: params.type } : {}),
        ...(iops !== undefined ? { iops } : {}),
        zones: topo.zones, nodes: topo.nodes,
        labels: params.labels, poolLabels: params.poolLabels, parameters: params.driverParameters,
        ...(source ? { source } : {}),
      });
      const { volume } = await once([`volume-name:${params.service}/${name}`], 'CreateVolume', async () => {
        try {
          return await create(sizeBytes);
        } catch (e) {
          // Same name again with another size: one inside the asked range is the same request
          // (spec: compatible → OK); core compares everything else.
          if (!(e instanceof PollyError && e.code === 'ALREADY_EXISTS')) throw e;
          const existing = (await polly.listVolumes(caller, { service: params.service, name }, 1)).items[0];
          if (!existing || existing.sizeBytes === sizeBytes || !fitsRange(existing.sizeBytes, range)) throw e;
          return create(existing.sizeBytes);
        }
      });
      if (!fitsRange(volume.sizeBytes, range)) {
        throw new PollyError('OUT_OF_RANGE', `the volume is ${volume.sizeBytes} bytes, outside capacity_range`, { volumeId: volume.id });
      }
      return { volume: csiVolume(volume) };
    },

    DeleteVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      checkMaps(req, ['secrets']);
      await once([`volume:${id}`], 'DeleteVolume', async () => {
        const volume = await findVolume(id);
        if (!volume) return; // already gone: DeleteVolume is idempotent
        await releaseIdleAttachment(volume);
        try {
          await polly.deleteVolume(caller, id);
        } catch (e) {
          if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e;
        }
      });
      return {};
    },

    ControllerPublishVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const nodeId = requireString('node_id', req.node_id);
      const cap = parseCapability('volume_capability', req.volume_capability);
      checkMaps(req, ['secrets', 'volume_context']);
      const volume = await polly.getVolume(caller, id);
      if (!deps.nodes.has(nodeId)) throw new PollyError('NOT_FOUND', `node ${JSON.stringify(nodeId)} is not known`, { kind: 'node', id: nodeId });
      const unfit = capabilitiesFit(volume.service, [cap]);
      if (unfit !== undefined) throw invalid('volume_capability', unfit);
      const mode = accessModeOf(cap.mode);
      const readOnly = mode.readOnly || req.readonly === true;
      if (deps.maxVolumesPerNode > 0 && !volume.attachments.some((a) => a.nodeId === nodeId)) {
        const onNode = await countAttached(deps, nodeId);
        if (onNode >= deps.maxVolumesPerNode) throw new PollyError('INSUFFICIENT_CAPACITY', `node ${nodeId} already has ${onNode} volumes published (at most ${deps.maxVolumesPerNode})`);
      }
      const attached = await once([`volume:${id}`], 'ControllerPublishVolume', () =>
        polly.attachVolume(caller, id, { nodeId, accessMode: mode.accessMode, readOnly }));
      const backend = attached.attachments.find((a) => a.nodeId === nodeId)?.publishContext ?? {};
      return { publish_context: { ...backend, 'polly.io/node': nodeId, 'polly.io/service': attached.service } };
    },

    ControllerUnpublishVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const nodeId = optionalString('node_id', req.node_id);
      checkMaps(req, ['secrets']);
      await once([`volume:${id}`], 'ControllerUnpublishVolume', async () => {
        const volume = await findVolume(id);
        if (!volume) return; // nothing to unpublish: it counts as unpublished
        const nodes = nodeId === '' ? volume.attachments.map((a) => a.nodeId) : [nodeId];
        for (const n of nodes) await polly.detachVolume(caller, id, n);
      });
      return {};
    },

    ValidateVolumeCapabilities: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const caps = parseCapabilities('volume_capabilities', req.volume_capabilities);
      checkMaps(req, ['volume_context', 'parameters', 'mutable_parameters', 'secrets']);
      const volume = await polly.getVolume(caller, id);
      const unfit = capabilitiesFit(volume.service, caps);
      if (unfit !== undefined) return { message: unfit };
      return {
        confirmed: {
          volume_context: req.volume_context ?? {}, volume_capabilities: req.volume_capabilities,
          parameters: req.parameters ?? {}, mutable_parameters: req.mutable_parameters ?? {},
        },
      };
    },

    ListVolumes: async (req) => {
      const limit = pageSize('max_entries', req.max_entries);
      const token = optionalString('starting_token', req.starting_token);
      const page = await polly.listVolumes(caller, {}, limit, token === '' ? undefined : token);
      return {
        entries: page.items.map((v) => ({ volume: csiVolume(v), status: volumeStatus(v) })),
        next_token: page.next ?? '',
      };
    },

    ControllerGetVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const v = await polly.getVolume(caller, id);
      return { volume: csiVolume(v), status: volumeStatus(v) };
    },

    GetCapacity: async (req) => {
      const params = parseParameters('parameters', checkMap('parameters', req.parameters), deps.defaultService);
      const caps = Array.isArray(req.volume_capabilities) && req.volume_capabilities.length > 0 ? parseCapabilities('volume_capabilities', req.volume_capabilities) : [];
      const topo = constraintsOf('accessible_topology', req.accessible_topology ? [req.accessible_topology] : []);
      if (capabilitiesFit(params.service, caps) !== undefined) return { available_capacity: 0, maximum_volume_size: { value: 0 } };
      const answer = polly.capacityFor(caller, {
        service: params.service, ...(params.type !== undefined ? { type: params.type } : {}),
        ...(params.iops !== undefined ? { iops: params.iops } : {}), zones: topo.zones, nodes: topo.nodes, poolLabels: params.poolLabels,
      });
      return { available_capacity: answer.availableBytes, maximum_volume_size: { value: answer.maximumVolumeBytes } };
    },

    ControllerGetCapabilities: async () => {
      const rpcs = [
        'CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'PUBLISH_READONLY',
        'LIST_VOLUMES_PUBLISHED_NODES', 'VOLUME_CONDITION', 'GET_VOLUME', 'SINGLE_NODE_MULTI_WRITER', 'MODIFY_VOLUME',
      ];
      if (anyDriver(deps, 'snapshot')) rpcs.push('CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS');
      if (anyDriver(deps, 'clone')) rpcs.push('CLONE_VOLUME');
      if (anyDriver(deps, 'expand')) rpcs.push('EXPAND_VOLUME');
      return { capabilities: rpcs.map((type) => ({ rpc: { type } })) };
    },

    CreateSnapshot: async (req) => {
      const volumeId = requireString('source_volume_id', req.source_volume_id);
      const name = pollyNameOf('name', req.name);
      checkMaps(req, ['secrets', 'parameters']);
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.parameters as Record<string, string>)) {
        if (!k.startsWith('label.')) throw invalid(`parameters.${k.slice(0, 64)}`, 'is not a snapshot parameter (label.<key> sets a label)');
        labels[k.slice('label.'.length)] = v;
      }
      const { snapshot } = await once([`snapshot-name:${name}`], 'CreateSnapshot', () => polly.createSnapshot(caller, { volumeId, name, labels }));
      return { snapshot: csiSnapshot(snapshot) };
    },

    DeleteSnapshot: async (req) => {
      const id = requireString('snapshot_id', req.snapshot_id);
      checkMaps(req, ['secrets']);
      await once([`snapshot:${id}`], 'DeleteSnapshot', async () => {
        try {
          await polly.deleteSnapshot(caller, id);
        } catch (e) {
          if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e; // gone already: OK
        }
      });
      return {};
    },

    ListSnapshots: async (req) => {
      const limit = pageSize('max_entries', req.max_entries);
      const token = optionalString('starting_token', req.starting_token);
      const snapshotId = optionalString('snapshot_id', req.snapshot_id);
      const volumeId = optionalString('source_volume_id', req.source_volume_id);
      checkMaps(req, ['secrets']);
      if (snapshotId !== '') {
        let snap: Snapshot | undefined;
        try {
          snap = await polly.getSnapshot(caller, snapshotId);
        } catch (e) {
          if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e;
        }
        const ok = snap !== undefined && (volumeId === '' || snap.volumeId === volumeId);
        return { entries: ok ? [{ snapshot: csiSnapshot(snap!) }] : [], next_token: '' };
      }
      const page = await polly.listSnapshots(caller, volumeId !== '' ? { volumeId } : {}, limit, token === '' ? undefined : token);
      return { entries: page.items.map((s) => ({ snapshot: csiSnapshot(s) })), next_token: page.next ?? '' };
    },

    GetSnapshot: async (req) => {
      const id = requireString('snapshot_id', req.snapshot_id);
      checkMaps(req, ['secrets']);
      return { snapshot: csiSnapshot(await polly.getSnapshot(caller, id)) };
    },

    ControllerExpandVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      if (req.capacity_range === null || req.capacity_range === undefined) throw invalid('capacity_range', 'is required');
      const range = parseCapacityRange('capacity_range', req.capacity_range);
      if (range.required === 0 && range.limit === 0) throw invalid('capacity_range', 'must set required_bytes or limit_bytes');
      checkMaps(req, ['secrets']);
      const volume = await polly.getVolume(caller, id);
      if (req.volume_capability) {
        const unfit = capabilitiesFit(volume.service, [parseCapability('volume_capability', req.volume_capability)]);
        if (unfit !== undefined) throw invalid('volume_capability', unfit);
      }
      const target = range.required > 0 ? range.required : range.limit;
      if (range.limit > 0 && volume.sizeBytes > range.limit) {
        throw new PollyError('OUT_OF_RANGE', `volume ${id} is already ${volume.sizeBytes} bytes, more than limit_bytes ${range.limit}; volumes do not shrink`);
      }
      const { volume: grown } = await once([`volume:${id}`], 'ControllerExpandVolume', () => polly.expandVolume(caller, id, target));
      // File-tree volumes grow on the controller alone; block volumes need their filesystem grown on the node.
      return { capacity_bytes: grown.sizeBytes, node_expansion_required: deps.capabilitiesOf(grown.service)?.block === true };
    },

    ControllerModifyVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      checkMaps(req, ['secrets']);
      const mutable = checkMap('mutable_parameters', req.mutable_parameters);
      if (Object.keys(mutable).length === 0) throw invalid('mutable_parameters', 'is required');
      const changes = parseMutable('mutable_parameters', mutable);
      await once([`volume:${id}`], 'ControllerModifyVolume', () => polly.modifyVolume(caller, id, changes));
      return {};
    },
  };
}

const DEFAULT_PAGE = 1000;
const MAX_PAGE = 5000;

function contentSource(s: VolumeSource): Message {
  return s.kind === 'snapshot' ? { snapshot: { snapshot_id: s.id } } : { volume: { volume_id: s.id } };
}

function sourceOf(src: Message | null | undefined): VolumeSource | undefined {
  if (!src) return undefined;
  if (src.snapshot) return { kind: 'snapshot', id: requireString('volume_content_source.snapshot.snapshot_id', src.snapshot.snapshot_id) };
  if (src.volume) return { kind: 'volume', id: requireString('volume_content_source.volume.volume_id', src.volume.volume_id) };
  throw invalid('volume_content_source', 'must name a snapshot or a volume');
}

async function countAttached(deps: CsiDeps, nodeId: string): Promise<number> {
  let n = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.polly.listVolumes(deps.caller, { status: 'attached' }, MAX_LIST_LIMIT, cursor);
    n += page.items.filter((v) => v.attachments.some((a) => a.nodeId === nodeId)).length;
    cursor = page.next;
  } while (cursor !== undefined);
  return n;
}

