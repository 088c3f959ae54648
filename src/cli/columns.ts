/** Table columns of each resource. Sizes are human-readable here; YAML and JSON keep bytes. */
import type { Claim, Offer, Pool, Service, Snapshot, StoreEntry, UnmanagedVolume, Volume } from '../client/types.js';
import { formatBytes } from '../core/units.js';
import { cell } from './output.js';
import type { Column } from './table.js';

const size = (bytes: number | undefined): string => (typeof bytes === 'number' ? formatBytes(bytes) : '-');

export const volumeColumns: Column<Volume>[] = [
  { header: 'ID', value: (v) => v.id },
  { header: 'NAME', value: (v) => v.name },
  { header: 'SERVICE', value: (v) => v.service },
  { header: 'SIZE', value: (v) => size(v.size) },
  { header: 'STATUS', value: (v) => cell(v.status) },
  { header: 'POOL', value: (v) => cell(v.pool) },
  { header: 'SCHEDULERS', value: (v) => cell(v.schedulers) },
];

/** A row of `volume get --all`: a managed volume, or a backend volume Polly does not manage. */
export type ListedVolume = (Volume & { managed?: true }) | (UnmanagedVolume & { managed: false });

const isUnmanaged = (v: ListedVolume): v is UnmanagedVolume & { managed: false } => v.managed === false;

export const listedVolumeColumns: Column<ListedVolume>[] = [
  { header: 'ID', value: (v) => (isUnmanaged(v) ? '-' : v.id) },
  { header: 'NAME', value: (v) => (isUnmanaged(v) ? v.backendId : v.name) },
  { header: 'SERVICE', value: (v) => v.service },
  { header: 'SIZE', value: (v) => size(v.size) },
  { header: 'STATUS', value: (v) => (isUnmanaged(v) ? 'unmanaged' : cell(v.status)) },
  { header: 'POOL', value: (v) => cell(v.pool) },
  { header: 'SCHEDULERS', value: (v) => (isUnmanaged(v) ? '-' : cell(v.schedulers)) },
];

export const snapshotColumns: Column<Snapshot>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'NAME', value: (s) => s.name },
  { header: 'VOLUME', value: (s) => s.volumeId },
  { header: 'SERVICE', value: (s) => s.service },
  { header: 'SIZE', value: (s) => size(s.size) },
  { header: 'STATUS', value: (s) => cell(s.status) },
  { header: 'CREATED', value: (s) => cell(s.createdAt) },
];

export const serviceColumns: Column<Service>[] = [
  { header: 'NAME', value: (s) => s.name },
  { header: 'DRIVER', value: (s) => s.driver },
  { header: 'POOLS', value: (s) => cell(s.pools) },
  { header: 'VOLUMES', value: (s) => String(s.usage?.volumes ?? 0) + (s.quota?.maxVolumes !== undefined ? `/${s.quota.maxVolumes}` : '') },
  { header: 'USED', value: (s) => size(s.usage?.bytes ?? 0) + (s.quota?.maxBytes !== undefined ? `/${size(s.quota.maxBytes)}` : '') },
  { header: 'DEFAULT SIZE', value: (s) => size(s.defaultSize) },
  { header: 'DEFAULT TYPE', value: (s) => cell(s.defaultType) },
];

export const poolColumns: Column<Pool>[] = [
  { header: 'SERVICE', value: (p) => p.service },
  { header: 'NAME', value: (p) => p.name },
  { header: 'ZONE', value: (p) => cell(p.zone) },
  { header: 'NODE', value: (p) => cell(p.node) },
  { header: 'TYPES', value: (p) => cell(p.types) },
  { header: 'CAPACITY', value: (p) => size(p.capacityBytes) },
  { header: 'PROVISIONED', value: (p) => size(p.provisionedBytes) },
  { header: 'FREE', value: (p) => size(p.freeBytes) },
  { header: 'VOLUMES', value: (p) => String(p.volumes ?? 0) },
];

export const storeColumns: Column<StoreEntry>[] = [
  { header: 'KEY', value: (e) => e.key },
  { header: 'REVISION', value: (e) => String(e.revision) },
  { header: 'VALUE', value: (e) => (typeof e.value === 'string' ? e.value : JSON.stringify(e.value)) },
];

export const offerColumns: Column<Offer>[] = [
  { header: 'ID', value: (o) => o.id },
  { header: 'KIND', value: (o) => o.kind },
  { header: 'SERVICE', value: (o) => o.service },
  { header: 'POOL', value: (o) => o.pool },
  { header: 'ZONE', value: (o) => cell(o.zone) },
  { header: 'VOLUME', value: (o) => cell(o.volumeId) },
  { header: 'SIZE', value: (o) => size(o.kind === 'capacity' ? o.maxVolumeBytes : o.size) },
  { header: 'FREE', value: (o) => (o.kind === 'capacity' ? size(o.freeBytes) : '-') },
];

export const claimColumns: Column<Claim>[] = [
  { header: 'ID', value: (c) => c.id },
  { header: 'KIND', value: (c) => c.kind },
  { header: 'SCHEDULER', value: (c) => c.scheduler },
  { header: 'POOL', value: (c) => c.pool },
  { header: 'VOLUME', value: (c) => cell(c.volumeId) },
  { header: 'SIZE', value: (c) => size(c.size) },
  { header: 'EXPIRES', value: (c) => c.expiresAt },
];
