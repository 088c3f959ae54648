import type { Stats } from 'node:fs';
import { isVanished, SafeDir, withSafeDir } from './safe-dir.js';

export interface TreeScan {
  /** Sum of the sizes of regular files (each inode once): the bytes a copy reads. */
  readonly apparentBytes: number;
  /** Sum of st_blocks × 512 of every entry including directories and symlinks (each inode once), like du. */
  readonly allocatedBytes: number;
  readonly entries: number;
}

/**
 * Walks a tree without following symlinks (see SafeDir) and adds up its sizes. Entries that
 * vanish during the walk are skipped: the tree may be in use.
 */
export async function scanTree(root: string, signal?: AbortSignal): Promise<TreeScan> {
  const seen = new Set<string>();
  let apparentBytes = 0;
  let allocatedBytes = 0;
  let entries = 0;

  const count = (st: Stats): void => {
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    entries++;
    allocatedBytes += st.blocks * 512;
    if (st.isFile()) apparentBytes += st.size;
  };

  const walk = async (dir: SafeDir): Promise<void> => {
    count(dir.stat);
    for (const name of await dir.names()) {
      signal?.throwIfAborted();
      let st: Stats;
      try {
        st = await dir.lstat(name);
      } catch (e) {
        if (isVanished(e)) continue;
        throw e;
      }
      if (!st.isDirectory()) {
        count(st);
        continue;
      }
      let sub: SafeDir;
      try {
        sub = await dir.openDir(name);
      } catch (e) {
        // Vanished, or replaced by a symlink/file since the lstat: never follow, just skip.
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') continue;
        throw e;
      }
      try {
        await walk(sub);
      } finally {
        await sub.close();
      }
    }
  };

  await withSafeDir(root, walk);
  return { apparentBytes, allocatedBytes, entries };
}
