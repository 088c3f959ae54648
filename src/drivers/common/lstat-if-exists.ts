import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';

/** lstat that answers undefined for a path that does not exist (any other error is thrown). */
export async function lstatIfExists(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
