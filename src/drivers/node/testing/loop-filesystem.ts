import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from '../run-command.js';

/**
 * Test support: makes a filesystem of `sizeBytes` in a sparse file under `dir` and mounts it
 * (through a loop device) at `<dir>/<name>`; returns the mount point. cleanupHostDir(dir)
 * unmounts it and releases the loop device.
 */
export async function makeLoopFilesystem(dir: string, name: string, fsType: 'ext4' | 'xfs' | 'btrfs', sizeBytes: number): Promise<string> {
  const image = path.join(dir, `${name}.fs.img`);
  const handle = await open(image, 'wx', 0o600);
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
  const mkfs = fsType === 'ext4' ? ['mkfs.ext4', ['-q', '-F', image]] as const : fsType === 'xfs' ? ['mkfs.xfs', ['-q', '-f', image]] as const : ['mkfs.btrfs', ['-q', '-f', image]] as const;
  await runCommand(mkfs[0], mkfs[1]);
  const mountPoint = path.join(dir, name);
  await mkdir(mountPoint, { recursive: true });
  await runCommand('mount', ['-o', 'loop', '-t', fsType, '--', image, mountPoint]);
  return mountPoint;
}
