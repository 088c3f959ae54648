import { realpathSync } from 'node:fs';
import path from 'node:path';
import { invalid } from '../../core/errors.js';
import type { ServiceSpec } from '../../core/model.js';
import { poolRootPath } from './pool-root-path.js';

interface Root {
  readonly field: string;
  readonly configured: string;
  readonly canonical: string;
}

/**
 * Throws INVALID_ARGUMENT when two dir pools (of the same or different services) have the same
 * root or one root lies inside another: their volumes, snapshots and staging areas would mix.
 *
 * Paths are compared after resolving symlinks of the longest existing ancestor, so an alias
 * through a symlink is caught too. Config validation calls this once at startup (it uses
 * synchronous fs calls, which is fine there and nowhere else).
 */
export function checkPoolRootsDisjoint(services: readonly ServiceSpec[]): void {
  const roots: Root[] = [];
  for (const service of services) {
    if (service.driver !== 'dir') continue;
    for (const pool of service.pools) {
      const configured = poolRootPath(service, pool);
      roots.push({ field: `services.${service.name}.pools.${pool.name}.path`, configured, canonical: canonicalPath(configured) });
    }
  }
  for (let i = 0; i < roots.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = roots[j]!;
      const b = roots[i]!;
      const relation = relate(a.canonical, b.canonical);
      if (relation === undefined) continue;
      throw invalid(
        b.field,
        `${JSON.stringify(b.configured)} ${relation} ${a.field} ${JSON.stringify(a.configured)}; pool roots must not be the same or nested`,
        { other: a.field },
      );
    }
  }
}

/** How `b` relates to `a`, or undefined when they are disjoint. */
function relate(a: string, b: string): string | undefined {
  if (a === b) return 'is the same directory as';
  if (b.startsWith(withSep(a))) return 'is inside';
  if (a.startsWith(withSep(b))) return 'contains';
  return undefined;
}

const withSep = (p: string): string => (p.endsWith(path.sep) ? p : p + path.sep);

/** Resolves symlinks in the longest existing prefix of an absolute path and appends the rest. */
function canonicalPath(absolute: string): string {
  const rest: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return path.join(realpathSync(current), ...rest.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}
