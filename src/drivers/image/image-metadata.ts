import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PollyError } from '../../core/errors.js';
import { writeFileAtomic } from '../common/write-file-atomic.js';

/** How an image is formatted: a filesystem, or raw for block access. */
export type ImageFormat = 'ext4' | 'xfs' | 'raw';

/**
 * What the image driver records about a volume or snapshot, beside the image:
 * `<root>/.meta/{volumes,snapshots}/<backendId>.json`.
 */
export interface ImageMetadata {
  readonly version: 1;
  readonly kind: 'volume' | 'snapshot';
  /** Provisioned size: the image file's length. */
  readonly sizeBytes: number;
  readonly format: ImageFormat;
  readonly createdAt?: number;
  readonly source?: { readonly kind: 'snapshot' | 'volume'; readonly pool: string; readonly backendId: string };
  /** Whether the copy that made it shared extents with its source. */
  readonly reflinked?: boolean;
}

export const imageMetadataPath = (metaDir: string, backendId: string): string => path.join(metaDir, `${backendId}.json`);

export async function readImageMetadata(file: string): Promise<ImageMetadata | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PollyError('BACKEND_ERROR', `image driver: metadata file ${file} is not valid JSON`, { path: file }, { cause });
  }
  const v = value as Record<string, unknown> | null;
  const ok =
    typeof v === 'object' && v !== null && v['version'] === 1 && (v['kind'] === 'volume' || v['kind'] === 'snapshot') &&
    Number.isSafeInteger(v['sizeBytes']) && ['ext4', 'xfs', 'raw'].includes(String(v['format']));
  if (!ok) throw new PollyError('BACKEND_ERROR', `image driver: metadata file ${file} has an unexpected shape`, { path: file });
  return value as ImageMetadata;
}

export const writeImageMetadata = (file: string, metadata: ImageMetadata): Promise<void> => writeFileAtomic(file, `${JSON.stringify(metadata)}\n`);

export const removeImageMetadata = (file: string): Promise<void> => rm(file, { force: true });
