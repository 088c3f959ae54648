import { readJsonMetadata } from '../common/json-metadata.js';
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

function isImageMetadata(value: unknown): value is ImageMetadata {
  const v = value as Record<string, unknown> | null;
  return (
    typeof v === 'object' && v !== null && v['version'] === 1 && (v['kind'] === 'volume' || v['kind'] === 'snapshot') &&
    Number.isSafeInteger(v['sizeBytes']) && ['ext4', 'xfs', 'raw'].includes(String(v['format']))
  );
}

export const readImageMetadata = (file: string): Promise<ImageMetadata | undefined> => readJsonMetadata(file, 'image', isImageMetadata);

export const writeImageMetadata = (file: string, metadata: ImageMetadata): Promise<void> => writeFileAtomic(file, `${JSON.stringify(metadata)}\n`);
