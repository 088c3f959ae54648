/** Where a value sits: key names and array indexes, outermost first. */
export type ConfigPath = readonly (string | number)[];

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `['services', 'default', 'pools', 0, 'capacity']` → `services.default.pools[0].capacity`. */
export function formatPath(path: ConfigPath): string {
  if (path.length === 0) return '(top level)';
  let out = '';
  path.forEach((seg, i) => {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (i === 0) out += seg;
    else if (PLAIN_KEY.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  });
  return out;
}

/** A JSON pointer (as Ajv reports) → a path; indexes of arrays in `data` become numbers. */
export function pointerToPath(pointer: string, data: unknown): ConfigPath {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(key)) {
      out.push(Number(key));
      node = node[Number(key)];
    } else {
      out.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return out;
}

export const samePrefix = (prefix: ConfigPath, path: ConfigPath): boolean =>
  prefix.length <= path.length && prefix.every((seg, i) => seg === path[i]);

export interface ResolvedPath {
  readonly path: ConfigPath;
  /** True when the path names something outside the file (an env var or a flag). */
  readonly external: boolean;
}

/**
 * Renames paths of the merged (Polly-layout) document back to where the value came from: a key of
 * the 2016 layout, an environment variable or a flag. The longest matching prefix wins.
 */
export class PathAliases {
  private readonly entries: { from: ConfigPath; to: ConfigPath; external: boolean }[] = [];

  set(from: ConfigPath, to: ConfigPath, external = false): void {
    const i = this.entries.findIndex((e) => e.from.length === from.length && samePrefix(e.from, from));
    if (i >= 0) this.entries.splice(i, 1);
    this.entries.push({ from, to, external });
  }

  resolve(path: ConfigPath): ResolvedPath {
    let best: { from: ConfigPath; to: ConfigPath; external: boolean } | undefined;
    for (const e of this.entries) {
      if (samePrefix(e.from, path) && (best === undefined || e.from.length > best.from.length)) best = e;
    }
    if (best === undefined) return { path, external: false };
    // An env var or flag names a single value: what lies below it has no name of its own.
    return { path: best.external ? best.to : [...best.to, ...path.slice(best.from.length)], external: best.external };
  }
}
