import { PollyError, invalid } from '../../core/errors.js';
import type { AccessMode } from '../../core/model.js';

/**
 * Checks of CSI requests at the edge (spec §"Field Requirements"): every REQUIRED field present,
 * strings at most 128 bytes, each map<string,string> at most 4 KiB (keys and values together),
 * sizes within what a JS number holds exactly. Each failure is INVALID_ARGUMENT naming the field.
 */
export const MAX_STRING_BYTES = 128;
export const MAX_MAP_BYTES = 4096;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A REQUIRED string field: present, at most 128 bytes, no control characters. */
export function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'is required');
  return checkString(field, value);
}

/** An OPTIONAL string field ('' when unset). */
export function optionalString(field: string, value: unknown): string {
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  return checkString(field, value);
}

function checkString(field: string, value: string): string {
  if (Buffer.byteLength(value) > MAX_STRING_BYTES) throw invalid(field, `must be at most ${MAX_STRING_BYTES} bytes`);
  if (CONTROL.test(value)) throw invalid(field, 'must not contain control characters');
  return value;
}

/** A map<string,string> field: at most 4 KiB of keys and values. */
export function checkMap(field: string, value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'must be a map of strings');
  let bytes = 0;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw invalid(`${field}.${k.slice(0, 64)}`, 'must be a string');
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_MAP_BYTES) throw invalid(field, `must be at most ${MAX_MAP_BYTES} bytes (keys and values together), got ${bytes}`);
  return value as Record<string, string>;
}

/** Checks every map field of a request that the RPC carries (secrets, contexts, parameters). */
export function checkMaps(req: Record<string, unknown>, fields: readonly string[]): void {
  for (const f of fields) checkMap(f, req[f]);
}

/** A REQUIRED path field, checked only as a string: present, no control characters or NULs, at most 4 KiB. */
export function requirePathString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'is required');
  if (value.includes('\0') || CONTROL.test(value)) throw invalid(field, 'must not contain control characters');
  if (Buffer.byteLength(value) > 4096) throw invalid(field, 'must be at most 4096 bytes');
  return value;
}

/** True for an absolute path without `.` or `..` segments: the only form a staging, target or volume path can have. */
export const isCleanAbsolutePath = (path: string): boolean => path.startsWith('/') && !path.split('/').some((s) => s === '..' || s === '.');

/** A REQUIRED absolute path (target or staging path) without `..` segments or NULs. */
export function requirePath(field: string, value: unknown): string {
  const path = requirePathString(field, value);
  if (!path.startsWith('/')) throw invalid(field, 'must be an absolute path');
  if (!isCleanAbsolutePath(path)) throw invalid(field, 'must not contain "." or ".." segments');
  return path;
}

export interface Capability {
  readonly kind: 'mount' | 'block';
  readonly mode: string;
  readonly fsType: string;
  readonly mountFlags: readonly string[];
}

const MODES = new Set([
  'SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER',
  'MULTI_NODE_MULTI_WRITER', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER',
]);

/** One VolumeCapability: an access type (mount or block) and a known access mode. */
export function parseCapability(field: string, cap: unknown): Capability {
  if (cap === undefined || cap === null || typeof cap !== 'object') throw invalid(field, 'is required');
  const c = cap as { access_type?: string; mount?: { fs_type?: string; mount_flags?: string[] } | null; block?: object | null; access_mode?: { mode?: string } | null };
  const mode = c.access_mode?.mode;
  if (!c.access_mode) throw invalid(`${field}.access_mode`, 'is required');
  if (mode === undefined || !MODES.has(mode)) throw invalid(`${field}.access_mode.mode`, `must be a known access mode, got ${mode ?? 'UNKNOWN'}`);
  const kind = c.access_type ?? (c.mount ? 'mount' : c.block ? 'block' : undefined);
  if (kind === 'mount' && c.mount) {
    const fsType = optionalString(`${field}.mount.fs_type`, c.mount.fs_type);
    const flags = c.mount.mount_flags ?? [];
    flags.forEach((f, i) => checkString(`${field}.mount.mount_flags[${i}]`, f));
    return { kind, mode, fsType, mountFlags: flags };
  }
  if (kind === 'block' && c.block) return { kind, mode, fsType: '', mountFlags: [] };
  throw invalid(`${field}.access_type`, 'is required (mount or block)');
}

/** A REQUIRED, non-empty list of capabilities. */
export function parseCapabilities(field: string, caps: unknown): Capability[] {
  if (!Array.isArray(caps) || caps.length === 0) throw invalid(field, 'is required (at least one capability)');
  return caps.map((c, i) => parseCapability(`${field}[${i}]`, c));
}

/** Polly's attachment access mode for a CSI access mode. */
export function accessModeOf(mode: string): { accessMode: AccessMode; readOnly: boolean } {
  switch (mode) {
    case 'MULTI_NODE_READER_ONLY': return { accessMode: 'rox', readOnly: true };
    case 'MULTI_NODE_SINGLE_WRITER':
    case 'MULTI_NODE_MULTI_WRITER': return { accessMode: 'rwx', readOnly: false };
    case 'SINGLE_NODE_READER_ONLY': return { accessMode: 'rwo', readOnly: true };
    default: return { accessMode: 'rwo', readOnly: false };
  }
}

export const isMultiNode = (mode: string): boolean => mode.startsWith('MULTI_NODE_');

/** A size field (int64 bytes): a non-negative number a JS number holds exactly. */
export function checkBytes(field: string, value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || !Number.isInteger(n)) throw invalid(field, 'must be a whole number of bytes');
  if (n < 0) throw invalid(field, 'must not be negative');
  if (n > Number.MAX_SAFE_INTEGER) throw new PollyError('OUT_OF_RANGE', `${field}: ${n} bytes is more than Polly handles (at most ${Number.MAX_SAFE_INTEGER})`, { field });
  return n;
}

export interface CapacityRange {
  /** 0 = not set. */
  readonly required: number;
  /** 0 = not set. */
  readonly limit: number;
}

export function parseCapacityRange(field: string, range: unknown): CapacityRange {
  if (range === undefined || range === null) return { required: 0, limit: 0 };
  const r = range as { required_bytes?: unknown; limit_bytes?: unknown };
  const required = checkBytes(`${field}.required_bytes`, r.required_bytes ?? 0);
  const limit = checkBytes(`${field}.limit_bytes`, r.limit_bytes ?? 0);
  if (limit !== 0 && required > limit) {
    throw new PollyError('OUT_OF_RANGE', `${field}: required_bytes ${required} is more than limit_bytes ${limit}`, { field });
  }
  return { required, limit };
}

/** True when `size` satisfies a capacity range. */
export const fitsRange = (size: number, r: CapacityRange): boolean => size >= r.required && (r.limit === 0 || size <= r.limit);
