import { statfs } from 'node:fs/promises';
import type { NodeVolumeStats } from '../../core/ports/storage-driver.js';

/** Bytes and inodes of the filesystem mounted at `file`, as statfs(2) reports them. */
export async function statfsStats(file: string): Promise<NodeVolumeStats> {
  const fs = await statfs(file);
  const totalBytes = fs.blocks * fs.bsize;
  const availableBytes = fs.bavail * fs.bsize;
  return {
    totalBytes,
    availableBytes,
    usedBytes: (fs.blocks - fs.bfree) * fs.bsize,
    totalInodes: fs.files,
    freeInodes: fs.ffree,
    usedInodes: fs.files - fs.ffree,
  };
}
