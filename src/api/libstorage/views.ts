import type { Snapshot, Volume } from '../../core/model.js';
import { toGiB } from '../../core/units.js';
import type { LibstorageService } from './identities.js';

/** libStorage's attachmentState: 1 unknown, 2 attached here, 3 available, 4 attached elsewhere. */
export function attachmentState(v: Volume, node: string | undefined): number {
  if (v.attachments.length === 0) return 3;
  if (node === undefined) return 1;
  return v.attachments.some((a) => a.nodeId === node) ? 2 : 4;
}

export interface VolumeViewOptions {
  /** Include `attachments` and `attachmentState` (the `attachments` query bits or an instance id). */
  readonly attachments: boolean;
  /** Only this node's attachments (bit 2). */
  readonly mineOnly?: boolean;
  readonly node?: string;
  /** Device paths the client reported (`Libstorage-Localdevices`), by volume id. */
  readonly devices?: ReadonlyMap<string, string>;
}

/**
 * A volume in libStorage's shape, fields in the order libStorage's Go types write them; sizes in
 * GiB (rounded up). The id is Polly's volume id.
 */
export function volumeView(v: Volume, o: VolumeViewOptions) {
  const attachments = o.attachments
    ? v.attachments
      .filter((a) => !o.mineOnly || a.nodeId === o.node)
      .map((a) => ({
        deviceName: o.devices?.get(v.id) ?? a.device ?? '', instanceID: { id: a.nodeId }, status: 'attached', volumeID: v.id,
        ...(a.mountPath !== undefined ? { mountPoint: a.mountPath } : {}),
      }))
    : [];
  const odd = v.status !== 'available' && v.status !== 'attached';
  return {
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(o.attachments ? { attachmentState: attachmentState(v, o.node) } : {}),
    ...(v.zone !== undefined ? { availabilityZone: v.zone } : {}),
    ...(v.iops > 0 ? { iops: v.iops } : {}),
    name: v.name,
    ...(v.networkName !== undefined ? { networkName: v.networkName } : {}),
    size: toGiB(v.sizeBytes),
    ...(odd ? { status: v.status } : {}),
    id: v.id,
    type: v.type ?? '',
    ...(Object.keys(v.fields).length > 0 ? { fields: v.fields } : {}),
  };
}

export function snapshotView(s: Snapshot) {
  return {
    name: s.name, volumeID: s.volumeId, volumeSize: toGiB(s.sizeBytes), startTime: Math.floor(s.createdAt / 1000),
    description: '', status: s.status, id: s.id,
    ...(Object.keys(s.labels).length > 0 ? { fields: s.labels } : {}),
  };
}

export function serviceView(s: LibstorageService) {
  return {
    name: s.name,
    driver: { name: s.driverName, type: s.driverType, nextDevice: { ignore: true, prefix: '', pattern: '' } },
  };
}

export function instanceView(s: LibstorageService, id: string) {
  return { instanceID: { id, driver: s.driverName, service: '' }, name: `${s.driverName}Instance`, providerName: '' };
}
