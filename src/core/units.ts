import { invalid } from './errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const UNITS: Record<string, number> = {
  '': GiB, // a bare number is GiB, as in libStorage
  b: 1, k: 1000, kb: 1000, m: 1000 ** 2, mb: 1000 ** 2, g: 1000 ** 3, gb: 1000 ** 3, t: 1000 ** 4, tb: 1000 ** 4,
  ki: KiB, kib: KiB, mi: MiB, mib: MiB, gi: GiB, gib: GiB, ti: TiB, tib: TiB,
};

/** Parses "10Gi", "512Mi", "1.5G", "2" (GiB) or a number of GiB into bytes. */
export function parseSize(field: string, value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw invalid(field, 'must be a positive size');
    return checkBytes(field, Math.round(value * GiB));
  }
  if (typeof value !== 'string') throw invalid(field, 'must be a size such as 10Gi, 512Mi or a number of GiB');
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(value);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw invalid(field, `"${value}" is not a size; use a number with B, Ki, Mi, Gi, Ti (or K, M, G, T) or a bare number of GiB`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes <= 0) throw invalid(field, 'must be a positive size');
  return checkBytes(field, bytes);
}

function checkBytes(field: string, bytes: number): number {
  if (!Number.isSafeInteger(bytes)) throw invalid(field, 'is too large');
  return bytes;
}

/** Bytes → whole GiB, rounded up (the unit of the 2016 and libStorage APIs). */
export const toGiB = (bytes: number): number => Math.ceil(bytes / GiB);

export function formatBytes(bytes: number): string {
  const units: [number, string][] = [[TiB, 'Ti'], [GiB, 'Gi'], [MiB, 'Mi'], [KiB, 'Ki']];
  for (const [size, suffix] of units) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  for (const [size, suffix] of units) {
    if (bytes >= size) return `${(bytes / size).toFixed(1)}${suffix}`;
  }
  return `${bytes}B`;
}
