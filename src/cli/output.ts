/** Renders command results as YAML (default), pretty JSON or a table. */
import { stringify } from 'yaml';
import { tableOf, type Column } from './table.js';

export const FORMATS = ['yaml', 'json', 'table'] as const;
export type Format = (typeof FORMATS)[number];

export const isFormat = (s: string): s is Format => (FORMATS as readonly string[]).includes(s);

export function toYaml(data: unknown): string {
  return stringify(data, { lineWidth: 0 });
}

export function toJson(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/**
 * Renders `data` in the format. For `table`, a list (or a single object) is drawn with the
 * given columns; without columns an object becomes KEY/VALUE rows of its flattened fields.
 */
export function render<T>(format: Format, data: T | T[], columns?: readonly Column<T>[]): string {
  if (format === 'json') return toJson(data);
  if (format === 'yaml') return toYaml(data);
  if (columns) return tableOf(columns, Array.isArray(data) ? data : [data]);
  return keyValueTable(data);
}

/** `{a: {b: 1}, c: [x]}` → rows `a.b 1`, `c x`. */
export function keyValueTable(data: unknown): string {
  const rows: [string, string][] = [];
  flatten('', data, rows);
  return tableOf<[string, string]>(
    [
      { header: 'KEY', value: (r) => r[0] },
      { header: 'VALUE', value: (r) => r[1] },
    ],
    rows,
  );
}

function flatten(prefix: string, value: unknown, rows: [string, string][]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(prefix === '' ? k : `${prefix}.${k}`, v, rows);
    return;
  }
  rows.push([prefix, cell(value)]);
}

/** A value as one table cell: scalars as text, lists comma-joined, objects as compact JSON. */
export function cell(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',');
  if (typeof value === 'object') return Object.keys(value).length === 0 ? '-' : JSON.stringify(value);
  return String(value);
}
