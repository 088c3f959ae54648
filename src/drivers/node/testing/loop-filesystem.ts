import { access, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from '../run-command.js';

/**
 * Makes /dev/loop0…/dev/loop31 where they are missing (a /dev that is not devtmpfs, as in some
 * containers): losetup can then find free devices. Where /dev is devtmpfs this does nothing.
 */
export async function ensureLoopDeviceNodes(count = 32): Promise<void> {
  for (let i = 0; i < count; i++) {
    const node = `/dev/loop${i}`;
    const exists = await access(node).then(() => true, () => false);
    if (!exists) await runCommand('mknod', ['-m', '0660', node, 'b', '7', String(i)]);
  }
}

/**
 * Test support: makes a filesystem of `sizeBytes` in a sparse file under `dir` and mounts it
 * (through a loop device) at `<dir>/<name>`; returns the mount point. cleanupHostDir(dir)
 * unmounts it and releases the loop device.
 */
export async function makeLoopFilesystem(dir: string, name: string, fsType: 'ext4' | 'xfs' | 'btrfs', sizeBytes: number): Promise<string> {
  await ensureLoopDeviceNodes();
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
