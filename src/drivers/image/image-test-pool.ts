import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import { cleanupHostDir } from '../node/testing/host-cleanup.js';
import { makeLoopFilesystem } from '../node/testing/loop-filesystem.js';

/** Test support for the image driver's suites. */

const MiB = 1024 * 1024;

export function imageService(root: string, params: Record<string, unknown> = {}, pool: Partial<PoolSpec> = {}): ServiceSpec {
  return {
    name: 'blocks', driver: 'image', defaultSizeBytes: 64 * MiB, quota: {}, driverConfig: {},
    pools: [{ name: 'p1', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: root, ...params }, ...pool }],
  };
}

/** A temp dir with a pool filesystem (ext4: plain copies; btrfs: reflinks) mounted through a loop device. Needs root. */
export async function imagePoolFs(fsType: 'ext4' | 'btrfs' | 'xfs', sizeBytes = 1024 * MiB): Promise<{ tmp: string; root: string; hostDir: string }> {
  const tmp = await mkdtemp(path.join(tmpdir(), `polly-image-${fsType}-`));
  try {
    const mounted = await makeLoopFilesystem(tmp, 'poolfs', fsType, sizeBytes);
    const hostDir = path.join(tmp, 'host');
    await mkdir(hostDir);
    return { tmp, root: path.join(mounted, 'images'), hostDir };
  } catch (e) {
    await cleanupHostDir(tmp);
    throw e;
  }
}

