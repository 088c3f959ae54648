import { PollyError, invalid } from '../../core/errors.js';
import { ADMIN } from '../../core/model.js';
import type { CsiDeps } from './csi-deps.js';
import type { Handler, Message } from './rpc.js';
import { NODE_KEY } from './topology.js';
import { checkMaps, isCleanAbsolutePath, optionalString, parseCapability, parseCapacityRange, requirePath, requirePathString, requireString, type Capability } from './validation.js';

/**
 * CSI Node service of this host, over the core node-side use cases (node-volumes.ts): the volume
 * must be ControllerPublished to this node; staging and target paths are checked before they reach
 * the filesystem; the drivers do the real (bind) mounts. Calls on one volume run one at a time
 * (a second is ABORTED).
 */
export function nodeService(deps: CsiDeps): Record<string, Handler> {
  const { polly, caller } = deps;
  const once = <T>(id: string, what: string, fn: () => Promise<T>) => polly.inFlight.run([`node-volume:${id}`], what, fn);
  const access = (cap: Capability) => ({
    accessType: cap.kind,
    ...(cap.fsType !== '' ? { fsType: cap.fsType } : {}),
    ...(cap.mountFlags.length > 0 ? { mountFlags: cap.mountFlags } : {}),
  });

  /**
   * SINGLE_NODE_SINGLE_WRITER: one target path on this node at a time (spec: a second target is
   * FAILED_PRECONDITION). The mount table says where the volume is mounted now; reading it is
   * node state, not catalog data, so it is read with the node's own rights.
   */
  const assertNoOtherTarget = async (id: string, stagingPath: string, targetPath: string): Promise<void> => {
    const volume = await polly.getVolume(caller, id);
    const mounted = (await polly.listNodeVolumes(ADMIN)).find((v) => v.volumeId === volume.id);
    const others = (mounted?.mountPaths ?? []).filter((p) => p !== stagingPath && p !== targetPath);
    if (others.length > 0) {
      throw new PollyError('FAILED_PRECONDITION', `volume ${id} is SINGLE_NODE_SINGLE_WRITER and already published at ${others.join(', ')}`, { volumeId: id });
    }
  };

  return {
    NodeStageVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const stagingPath = requirePath('staging_target_path', req.staging_target_path);
      const cap = parseCapability('volume_capability', req.volume_capability);
      checkMaps(req, ['publish_context', 'secrets', 'volume_context']);
      await once(id, 'NodeStageVolume', () => polly.stageVolume(caller, id, { stagingPath, ...access(cap) }));
      return {};
    },

    NodeUnstageVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const stagingPath = requirePath('staging_target_path', req.staging_target_path);
      await once(id, 'NodeUnstageVolume', () => polly.unstageVolume(caller, id, stagingPath));
      return {};
    },

    NodePublishVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const targetPath = requirePath('target_path', req.target_path);
      const cap = parseCapability('volume_capability', req.volume_capability);
      // This plugin stages (STAGE_UNSTAGE_VOLUME), so a publish without a staging path cannot be served.
      if (typeof req.staging_target_path !== 'string' || req.staging_target_path === '') {
        throw new PollyError('FAILED_PRECONDITION', 'staging_target_path: is not set; NodeStageVolume first (this plugin has STAGE_UNSTAGE_VOLUME)', { field: 'staging_target_path' });
      }
      const stagingPath = requirePath('staging_target_path', req.staging_target_path);
      checkMaps(req, ['publish_context', 'secrets', 'volume_context']);
      const readOnly = req.readonly === true || cap.mode === 'SINGLE_NODE_READER_ONLY' || cap.mode === 'MULTI_NODE_READER_ONLY';
      await once(id, 'NodePublishVolume', async () => {
        if (cap.mode === 'SINGLE_NODE_SINGLE_WRITER') await assertNoOtherTarget(id, stagingPath, targetPath);
        await polly.publishVolume(caller, id, { stagingPath, targetPath, readOnly, ...access(cap) });
      });
      return {};
    },

    NodeUnpublishVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const targetPath = requirePath('target_path', req.target_path);
      await once(id, 'NodeUnpublishVolume', () => polly.unpublishVolume(caller, id, targetPath));
      return {};
    },

    NodeGetVolumeStats: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      const volumePath = requirePathString('volume_path', req.volume_path);
      optionalString('staging_target_path', req.staging_target_path);
      // Spec: NOT_FOUND when the volume does not exist, or does not exist on volume_path. A path
      // that is not absolute and clean can hold no volume, so it is NOT_FOUND too (it never
      // reaches the filesystem); the volume is looked up first.
      const volume = await polly.getVolume(caller, id);
      if (!isCleanAbsolutePath(volumePath)) {
        throw new PollyError('NOT_FOUND', `volume ${id} is not mounted at volume_path ${JSON.stringify(volumePath)}: not an absolute path without "." or ".." segments`, { volumeId: id });
      }
      const s = await polly.nodeVolumeStats(caller, id, volumePath);
      const usage: Message[] = [{ unit: 'BYTES', total: s.totalBytes, available: s.availableBytes, used: s.usedBytes }];
      if (s.totalInodes !== undefined) usage.push({ unit: 'INODES', total: s.totalInodes, available: s.freeInodes ?? 0, used: s.usedInodes ?? 0 });
      return {
        usage,
        volume_condition: { abnormal: volume.status === 'error', message: volume.status === 'error' ? (volume.reason ?? 'the volume is in error') : 'volume is healthy' },
      };
    },

    NodeExpandVolume: async (req) => {
      const id = requireString('volume_id', req.volume_id);
      requirePathString('volume_path', req.volume_path);
      const range = parseCapacityRange('capacity_range', req.capacity_range);
      checkMaps(req, ['secrets']);
      const cap = req.volume_capability ? parseCapability('volume_capability', req.volume_capability) : undefined;
      // Spec: NOT_FOUND for a volume that does not exist, whatever the form of volume_path.
      const volume = await polly.getVolume(caller, id);
      const volumePath = requirePath('volume_path', req.volume_path);
      if (cap?.kind === 'block' && !deps.capabilitiesOf(volume.service)?.block) throw invalid('volume_capability', 'the volume has no block access');
      if (range.required > volume.sizeBytes) {
        throw new PollyError('OUT_OF_RANGE', `capacity_range: volume ${id} is ${volume.sizeBytes} bytes; ControllerExpandVolume to ${range.required} first`);
      }
      await once(id, 'NodeExpandVolume', () => polly.expandVolumeOnNode(caller, id, volumePath));
      return { capacity_bytes: volume.sizeBytes };
    },

    NodeGetCapabilities: async () => ({
      capabilities: ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER']
        .map((type) => ({ rpc: { type } })),
    }),

    NodeGetInfo: async () => ({
      node_id: deps.nodeId,
      max_volumes_per_node: deps.maxVolumesPerNode,
      accessible_topology: { segments: { [NODE_KEY]: deps.nodeId } },
    }),
  };
}
