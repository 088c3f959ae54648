/** The version of this polly build, read from the package's package.json. */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function clientVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  // Compiled to dist/src/cli/, sources in src/cli/: the package root is two or three levels up.
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'polly' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // try the next location
    }
  }
  return cached;
}
