import { readFileSync } from 'node:fs';

let known: number | undefined | null = null;

/**
 * This process's umask as Linux reports it (/proc/self/status, kernel 4.7 and later), read once;
 * undefined when it cannot be known. (`process.umask()` without an argument is deprecated: it
 * sets the mask twice, racing other threads.)
 */
export function processUmask(): number | undefined {
  if (known === null) {
    try {
      const line = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      known = line ? parseInt(line[1]!, 8) : undefined;
    } catch {
      known = undefined;
    }
  }
  return known;
}
