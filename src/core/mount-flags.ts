import { invalid } from './errors.js';

/** Refuses mount flags that would change what is mounted rather than how. */
const FORBIDDEN_FLAGS = new Set(['bind', 'rbind', 'move', 'remount', 'loop', 'rw', 'ro', 'defaults', 'suid', 'dev']);

/** Checks client mount flags: at most 32, each a plain word or key=value, none that changes the mount's nature. */
export function checkMountFlags(field: string, flags: unknown): string[] {
  if (flags === undefined) return [];
  if (!Array.isArray(flags) || flags.length > 32) throw invalid(field, 'must be a list of at most 32 mount options');
  return flags.map((f, i) => {
    if (typeof f !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.=:+-]{0,127}$/.test(f)) {
      throw invalid(`${field}[${i}]`, 'must be a mount option: letters, digits and "_.=:+-", at most 128 characters, no commas or spaces');
    }
    const key = f.split('=')[0]!.toLowerCase();
    if (FORBIDDEN_FLAGS.has(key) || key.startsWith('make-') || key.startsWith('x-')) {
      throw invalid(`${field}[${i}]`, `mount option ${JSON.stringify(f)} is not allowed (read-only is asked with readOnly; suid and dev are never granted)`);
    }
    return f;
  });
}
