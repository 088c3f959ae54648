import { mkdir, mkdtemp, open, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { newId } from '../src/core/ids.js';
import type { BackendRef, NodeAccess, StorageDriver } from '../src/core/ports/storage-driver.js';
import { createBtrfsDriver } from '../src/drivers/btrfs/btrfs-driver.js';
import { createDirDriver } from '../src/drivers/dir/dir-driver.js';
import { createImageDriver } from '../src/drivers/image/image-driver.js';
import { runCommand } from '../src/drivers/node/run-command.js';
import { cleanupHostDir } from '../src/drivers/node/testing/host-cleanup.js';
import { makeLoopFilesystem } from '../src/drivers/node/testing/loop-filesystem.js';
import { percentile, record } from './results.js';

/**
 * Storage drivers on real loop-mounted filesystems (needs root):
 * 1. snapshot time against the data written in the volume, for btrfs (target: flat, < 100 ms)
 *    and for the image driver with reflinks (btrfs pool filesystem) and with sparse copies;
 * 2. create + attach + stage (mount) + unstage + detach + delete cycle time per driver.
 */
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const mount: NodeAccess = { mode: 'mount', readonly: false };
const CYCLES = 40;

/** Data sizes, scaled down when the temp filesystem cannot hold a volume and its copy. */
async function dataSizes(): Promise<{ sizes: number[]; note: string }> {
  const fs = await statfs(tmpdir());
  const free = fs.bavail * fs.bsize;
  const wanted = [1, 8, 32].map((g) => g * GiB);
  // An image copy needs the data twice; keep a third of the free space for everyone else.
  const fitting = wanted.filter((s) => s * 2 <= free / 3);
  if (fitting.length === wanted.length) return { sizes: wanted, note: '1, 8 and 32 GiB of written data' };
  const sizes = [1, 4, 8].map((g) => g * GiB).filter((s) => s * 2 <= free / 3);
  return {
    sizes: sizes.length > 0 ? sizes : [256 * MiB],
    note: `scaled down from 1/8/32 GiB because the temp filesystem has ${(free / GiB).toFixed(0)} GiB free on a shared machine: ${sizes.length > 0 ? sizes.map((s) => `${s / GiB} GiB`).join(', ') : '256 MiB'}`,
  };
}

/** Writes `bytes` of non-zero data (a random 4 MiB block repeated) and fsyncs. */
async function fill(file: string, bytes: number): Promise<void> {
  const block = randomBytes(4 * MiB);
  const handle = await open(file, 'w');
  try {
    for (let done = 0; done < bytes; done += block.length) await handle.write(block, 0, Math.min(block.length, bytes - done));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const f = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);

async function timeSnapshot(driver: StorageDriver, ref: BackendRef): Promise<number> {
  const t0 = process.hrtime.bigint();
  const snap = await driver.snapshot(newId('snap'), ref);
  const took = ms(t0);
  await driver.deleteSnapshot({ pool: snap.pool, backendId: snap.backendId });
  return took;
}

async function snapshotBench(sizes: number[]): Promise<string[]> {
  const lines: string[] = [];
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-bench-snap-'));
  try {
    const maxData = Math.max(...sizes);
    const fsRoot = await makeLoopFilesystem(tmp, 'btrfs', 'btrfs', maxData * 3 + 4 * GiB);
    await runCommand('btrfs', ['quota', 'enable', fsRoot]);
    const host = path.join(tmp, 'host');
    await mkdir(host);
    const service = (driver: string, params: Record<string, unknown>) => ({
      name: driver, driver, defaultSizeBytes: GiB, quota: {}, driverConfig: {},
      pools: [{ name: 'p', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: path.join(fsRoot, driver), ...params } }],
    });
    const btrfs = createBtrfsDriver(service('btrfs', {}));
    const reflink = createImageDriver(service('image', { reflink: 'always' }));
    const copy = createImageDriver(service('image', { reflink: 'never' }));
    try {
      for (const size of sizes) {
        const volumeBytes = size + GiB;
        // btrfs: write into the subvolume through a bind-mounted staging path.
        const bv = await btrfs.create({ volumeId: newId('vol'), pool: 'p', sizeBytes: volumeBytes, parameters: {} });
        const bref = { pool: 'p', backendId: bv.backendId };
        const bstage = path.join(host, `b-${bv.backendId}`);
        await btrfs.node.stage(bref, bstage, mount);
        await fill(path.join(bstage, 'data.bin'), size);
        const bt = [await timeSnapshot(btrfs, bref), await timeSnapshot(btrfs, bref), await timeSnapshot(btrfs, bref)].sort((a, b) => a - b);
        await btrfs.node.unstage(bref, bstage);
        await btrfs.delete(bref);

        // image: one ext4 volume, snapshotted by reflink and by sparse copy.
        const iv = await reflink.create({ volumeId: newId('vol'), pool: 'p', sizeBytes: volumeBytes, parameters: {} });
        const iref = { pool: 'p', backendId: iv.backendId };
        const istage = path.join(host, `i-${iv.backendId}`);
        await reflink.node.attach(iref, mount);
        await reflink.node.stage(iref, istage, mount);
        await fill(path.join(istage, 'data.bin'), size);
        await reflink.node.unstage(iref, istage);
        await reflink.node.detach(iref);
        const rt = [await timeSnapshot(reflink, iref), await timeSnapshot(reflink, iref), await timeSnapshot(reflink, iref)].sort((a, b) => a - b);
        const ct = await timeSnapshot(copy, iref);
        await reflink.delete(iref);
        const label = `${size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`} written`;
        lines.push(`${label}: btrfs ${f(bt[1]!)} (median of 3), image reflink ${f(rt[1]!)} (median of 3), image sparse copy ${f(ct)} (${((size / MiB) / (ct / 1000)).toFixed(0)} MiB/s)`);
        process.stdout.write(`  ${lines.at(-1)}\n`);
      }
    } finally {
      await btrfs.close();
      await reflink.close();
      await copy.close();
    }
  } finally {
    await cleanupHostDir(tmp);
  }
  return lines;
}

async function cycleBench(): Promise<string[]> {
  const lines: string[] = [];
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-bench-cycle-'));
  try {
    const btrfsRoot = await makeLoopFilesystem(tmp, 'btrfs', 'btrfs', 4 * GiB);
    await runCommand('btrfs', ['quota', 'enable', btrfsRoot]);
    const ext4Root = await makeLoopFilesystem(tmp, 'ext4', 'ext4', 4 * GiB);
    const host = path.join(tmp, 'host');
    await mkdir(host);
    const service = (driver: string, root: string) => ({
      name: driver, driver, defaultSizeBytes: GiB, quota: {}, driverConfig: {},
      pools: [{ name: 'p', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: root } }],
    });
    const drivers: Array<[string, StorageDriver]> = [
      ['dir (ext4 pool)', createDirDriver(service('dir', path.join(ext4Root, 'dir')))],
      ['image, 1 GiB ext4 volume (ext4 pool)', createImageDriver(service('image', path.join(ext4Root, 'image')))],
      ['btrfs, 1 GiB subvolume', createBtrfsDriver(service('btrfs', path.join(btrfsRoot, 'btrfs')))],
    ];
    for (const [label, driver] of drivers) {
      const times: number[] = [];
      try {
        for (let i = 0; i < CYCLES + 3; i++) {
          const t0 = process.hrtime.bigint();
          const v = await driver.create({ volumeId: newId('vol'), pool: 'p', sizeBytes: GiB, parameters: {} });
          const ref = { pool: 'p', backendId: v.backendId };
          const staging = path.join(host, 'staging');
          await driver.node.attach(ref, mount);
          await driver.node.stage(ref, staging, mount);
          await driver.node.unstage(ref, staging);
          await driver.node.detach(ref);
          await driver.delete(ref);
          if (i >= 3) times.push(ms(t0)); // three warm-up cycles
        }
      } finally {
        await driver.close();
      }
      times.sort((a, b) => a - b);
      lines.push(`${label}: p50 ${f(percentile(times, 50))}, p99 ${f(percentile(times, 99))} over ${times.length} cycles`);
      process.stdout.write(`  ${lines.at(-1)}\n`);
    }
  } finally {
    await cleanupHostDir(tmp);
  }
  return lines;
}

if (process.getuid?.() !== 0) {
  process.stdout.write('drivers bench: needs root (loop devices and mounts); skipped\n');
} else {
  const { sizes, note } = await dataSizes();
  const snapshots = await snapshotBench(sizes);
  record('Snapshot time vs written data (btrfs, image reflink, image copy)', [
    ...snapshots,
    `data: ${note}; pool filesystem: a loop-mounted btrfs on the temp disk; the image volumes are ext4, written through a real mount, snapshotted unmounted`,
    'target for btrfs: flat, < 100 ms',
  ]);
  const cycles = await cycleBench();
  record('Volume cycle: create + attach + stage (mount) + unstage + detach + delete', [
    ...cycles,
    'loop-mounted pool filesystems on the temp disk; the image cycle includes mkfs.ext4 and e2fsck -p',
  ]);
}
