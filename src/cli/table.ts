/** A minimal column formatter: left-aligned columns separated by two spaces. */

export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

/** Renders rows under upper-case headers; the last column is not padded. Ends with a newline. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (s: string): string => s.replace(/[\r\n\t]+/g, ' ');
  const all = [headers.map((h) => clean(h).toUpperCase()), ...rows.map((r) => headers.map((_, i) => clean(r[i] ?? '')))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  const last = headers.length - 1;
  return all
    .map((r) => r.map((cell, i) => (i === last ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join('  ').trimEnd())
    .join('\n') + '\n';
}

export function tableOf<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  return formatTable(columns.map((c) => c.header), rows.map((r) => columns.map((c) => c.value(r))));
}
