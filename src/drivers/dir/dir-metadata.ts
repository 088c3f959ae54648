import { unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FileAttrs } from './copy-tree.js';
import { readJsonMetadata } from '../common/json-metadata.js';
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

/** The metadata of an entry, or undefined when there is none (unmanaged directory). */
export const readMetadata = (file: string): Promise<DirMetadata | undefined> => readJsonMetadata(file, 'dir', isMetadata);

export async function writeMetadata(file: string, metadata: DirMetadata): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(metadata)}\n`);
}

/**
 * Writes metadata in place without fsync: for bookkeeping the catalog also holds. A crash can
 * leave the file torn; readers then see a BACKEND_ERROR and treat the entry as having none.
 */
export async function writeMetadataUnsynced(file: string, metadata: DirMetadata): Promise<void> {
  await writeFile(file, `${JSON.stringify(metadata)}\n`, { mode: 0o600, flag: 'w' });
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
