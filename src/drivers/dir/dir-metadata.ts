import { readlink, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { FileAttrs } from './copy-tree.js';
import { parseJsonMetadata, readJsonMetadata } from '../common/json-metadata.js';
import { writeFileAtomic } from '../common/write-file-atomic.js';

/**
 * What the dir driver records about a volume or snapshot, outside the user's tree:
 * `<root>/.meta/volumes/<backendId>.json` and `<root>/.meta/snapshots/<backendId>.json`
 * (one folder per kind so that an unmanaged volume and snapshot of the same name cannot clash).
 */
export interface DirMetadata {
  readonly version: 1;
  readonly kind: 'volume' | 'snapshot';
  /** Provisioned size; for a dir volume it is bookkeeping only. */
  readonly sizeBytes: number;
  readonly createdAt?: number;
  readonly source?: { readonly kind: 'snapshot' | 'volume'; readonly pool: string; readonly backendId: string };
  /**
   * Snapshots only: the attributes of the source volume's root directory. The snapshot's own
   * root is locked down (0500, owned by the driver) and clones get these back.
   */
  readonly root?: FileAttrs;
}

export const metadataPath = (metaDir: string, backendId: string): string => path.join(metaDir, `${backendId}.json`);

/**
 * The metadata of an entry, or undefined when there is none (unmanaged directory): the target
 * of a symlink (see writeMetadataUnsynced), else the content of a file (snapshots). The link is
 * read, never followed.
 */
export async function readMetadata(file: string): Promise<DirMetadata | undefined> {
  let text: string;
  try {
    text = await readlink(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EINVAL') return readJsonMetadata(file, 'dir', isMetadata); // a regular file
    throw e;
  }
  return parseJsonMetadata(text, file, 'dir', isMetadata);
}

export async function writeMetadata(file: string, metadata: DirMetadata): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(metadata)}\n`);
}

/**
 * Writes a volume's metadata without fsync, for bookkeeping the catalog also holds: as the
 * target of a symlink, which one `symlink()` makes whole or not at all (no torn file, and one
 * system call instead of open, write and close). A crash may lose it; the entry then counts as
 * having none. An older record in its place is replaced.
 */
export async function writeMetadataUnsynced(file: string, metadata: DirMetadata): Promise<void> {
  if (await addMetadataUnsynced(file, metadata)) return;
  await unlink(file);
  await symlink(JSON.stringify(metadata), file);
}

/** As writeMetadataUnsynced, but false (and nothing written) when a record is there already. */
export async function addMetadataUnsynced(file: string, metadata: DirMetadata): Promise<boolean> {
  try {
    await symlink(JSON.stringify(metadata), file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

export async function removeMetadata(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function isMetadata(value: unknown): value is DirMetadata {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['version'] === 1 &&
    (v['kind'] === 'volume' || v['kind'] === 'snapshot') &&
    Number.isSafeInteger(v['sizeBytes']) &&
    (v['createdAt'] === undefined || typeof v['createdAt'] === 'number') &&
    (v['root'] === undefined || isAttrs(v['root']))
  );
}

function isAttrs(value: unknown): value is FileAttrs {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['mode', 'uid', 'gid', 'atimeUs', 'mtimeUs'].every((k) => typeof v[k] === 'number');
}
