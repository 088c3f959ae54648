import { rm, rmdir } from 'node:fs/promises';
import { isVanished, SafeDir, withSafeDir } from './safe-dir.js';

/**
 * Removes a tree; a missing path is fine. Symlinks inside are removed, never followed.
 * Read-only directories (snapshots, or trees copied from read-only sources) cannot be emptied
 * by a non-root process, so on a permission error the tree is made owner-writable and removal
 * is retried.
 */
export async function removeTree(path: string): Promise<void> {
  // Most trees removed are empty volumes: one rmdir instead of a walk.
  try {
    await rmdir(path);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTDIR') throw e;
  }
  try {
    await rm(path, { recursive: true, force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw e;
    await makeTreeWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

/** Adds u+rwx to every directory of the tree (through descriptors, not following symlinks). */
export async function makeTreeWritable(path: string): Promise<void> {
  const walk = async (dir: SafeDir): Promise<void> => {
    await dir.chmod((dir.stat.mode & 0o7777) | 0o700);
    for (const name of await dir.names()) {
      let sub: SafeDir;
      try {
        sub = await dir.openDir(name);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (isVanished(e) || code === 'ENOTDIR' || code === 'ELOOP') continue; // files and symlinks
        throw e;
      }
      try {
        await walk(sub);
      } finally {
        await sub.close();
      }
    }
  };
  try {
    await withSafeDir(path, walk);
  } catch (e) {
    if (!isVanished(e)) throw e;
  }
}
