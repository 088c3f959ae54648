import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServiceSpec } from '../../core/model.js';
import { runCommand } from '../node/run-command.js';
import { cleanupHostDir } from '../node/testing/host-cleanup.js';
import { makeLoopFilesystem } from '../node/testing/loop-filesystem.js';

/** Test support for the btrfs driver's suites. */

const MiB = 1024 * 1024;

export function btrfsService(root: string): ServiceSpec {
  return {
    name: 'cow', driver: 'btrfs', defaultSizeBytes: 64 * MiB, quota: {}, driverConfig: {},
    pools: [{ name: 'p1', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: root } }],
  };
}

/** A temp dir with a loop-mounted btrfs (quotas on unless told otherwise). Needs root. */
export async function btrfsPoolFs(quotas = true, sizeBytes = 512 * MiB): Promise<{ tmp: string; fsRoot: string; root: string; hostDir: string }> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-btrfs-'));
  try {
    const fsRoot = await makeLoopFilesystem(tmp, 'btrfs', 'btrfs', sizeBytes);
    if (quotas) await runCommand('btrfs', ['quota', 'enable', fsRoot]);
    const hostDir = path.join(tmp, 'host');
    await mkdir(hostDir);
    return { tmp, fsRoot, root: path.join(fsRoot, 'pool'), hostDir };
  } catch (e) {
    await cleanupHostDir(tmp);
    throw e;
  }
}

