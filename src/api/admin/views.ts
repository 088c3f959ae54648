import type { Claim, Snapshot, Volume } from '../../core/model.js';
import type { OfferDecline, Offer } from '../../core/offers.js';
import { toGiB } from '../../core/units.js';
import type { UnmanagedVolume } from '../../core/unmanaged.js';
import type { ServiceView } from '../../core/catalog.js';

const iso = (t: number): string => new Date(t).toISOString();

/**
 * A volume as /v1 shows it (sizes in bytes). Absent optional fields stay `undefined`, which both
 * the response serializer and JSON.stringify leave out; a flat literal keeps listing cheap.
 */
export function volumeView(v: Volume) {
  return {
    id: v.id, name: v.name, service: v.service, pool: v.pool, size: v.sizeBytes, type: v.type, iops: v.iops,
    zone: v.zone, networkName: v.networkName, labels: v.labels, fields: v.fields, parameters: v.parameters,
    status: v.status, reason: v.reason, schedulers: v.schedulers, createdBy: v.createdBy,
    attachments: v.attachments.length === 0 ? [] : v.attachments.map((a) => ({ ...a, attachedAt: iso(a.attachedAt) })),
    source: v.source, createdAt: iso(v.createdAt), updatedAt: iso(v.updatedAt),
  };
}

export function snapshotView(s: Snapshot) {
  return {
    id: s.id, name: s.name, service: s.service, pool: s.pool, volumeId: s.volumeId, size: s.sizeBytes,
    status: s.status, ...(s.reason !== undefined ? { reason: s.reason } : {}), labels: s.labels,
    ...(s.createdBy !== undefined ? { createdBy: s.createdBy } : {}), createdAt: iso(s.createdAt),
  };
}

export function unmanagedView(u: UnmanagedVolume) {
  return { service: u.service, pool: u.pool, backendId: u.backendId, kind: u.kind, size: u.sizeBytes };
}

/** An offer as /v1 shows it (bytes; a volume offer's size is `size` as in a volume). */
export function offerView(o: Offer) {
  return o.kind === 'capacity'
    ? {
      id: o.id, kind: o.kind, service: o.service, pool: o.pool, zone: o.zone, node: o.node, types: o.types, labels: o.labels,
      freeBytes: o.freeBytes, maxVolumeBytes: o.maxVolumeBytes, maxIops: o.maxIops,
    }
    : { id: o.id, kind: o.kind, service: o.service, pool: o.pool, volumeId: o.volumeId, name: o.name, size: o.sizeBytes, type: o.type, zone: o.zone, labels: o.labels };
}

export function claimView(c: Claim) {
  return {
    id: c.id, kind: c.kind, scheduler: c.scheduler, offerId: c.offerId, service: c.service, pool: c.pool, volumeId: c.volumeId,
    size: c.sizeBytes, createdAt: iso(c.createdAt), expiresAt: iso(c.expiresAt),
  };
}

export const declineView = (d: OfferDecline) => ({ offerId: d.offerId, scheduler: d.scheduler, until: iso(d.until) });

/** A volume as the 2016 API showed it: sizes in GiB, `volumeid` is Polly's id, `id` the backend's. */
export function legacyVolumeView(v: Volume) {
  return {
    id: v.backendId, name: v.name, iops: v.iops, networkName: v.networkName ?? '', size: toGiB(v.sizeBytes),
    status: v.status, type: v.type ?? '', availabilityZone: v.zone ?? '', fields: v.fields,
    attachments: v.attachments.map((a) => ({ instanceID: { id: a.nodeId }, status: 'attached', volumeID: v.backendId })),
    volumeid: v.id, serviceName: v.service, schedulers: v.schedulers, labels: v.labels,
  };
}

export function legacyUnmanagedView(u: UnmanagedVolume) {
  return { id: u.backendId, name: u.backendId, size: toGiB(u.sizeBytes), availabilityZone: '', type: '', volumeid: '', serviceName: u.service };
}

/** A service as /v1 shows it (sizes in bytes). */
export function serviceView(s: ServiceView) {
  const { defaultSizeBytes, ...rest } = s;
  return { ...rest, defaultSize: defaultSizeBytes };
}
