import assert from 'node:assert/strict';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { newId } from '../../core/ids.js';
import type { BackendRef, BackendVolume, NodeAccess } from '../../core/ports/storage-driver.js';
import { integrityScenario } from '../integrity-scenario.js';
import { loopsFor } from '../node/loop-devices.js';
import { runCommand } from '../node/run-command.js';
import { cleanupHostDir, findmnt, loopsOf } from '../node/testing/host-cleanup.js';
import { createImageDriver, type ImageDriver } from './image-driver.js';
import { imagePoolFs, imageService } from './image-test-pool.js';
import { expectCode } from '../../core/testing/expect-code.js';

const MiB = 1024 * 1024;
const mount: NodeAccess = { mode: 'mount', readonly: false };
const ref = (v: BackendVolume): BackendRef => ({ pool: v.pool, backendId: v.backendId });

interface World {
  readonly driver: ImageDriver;
  readonly root: string;
  readonly hostDir: string;
  readonly reopen: () => ImageDriver;
}

/** A fresh image driver on a loop-mounted pool filesystem; everything is unmounted, detached and removed after, also on failure. */
async function withImagePool(fsType: 'ext4' | 'btrfs', params: Record<string, unknown>, fn: (w: World) => Promise<void>, poolBytes?: number): Promise<void> {
  const { tmp, root, hostDir } = await imagePoolFs(fsType, poolBytes);
  const service = imageService(root, params);
  const driver = createImageDriver(service);
  try {
    await fn({ driver, root, hostDir, reopen: () => createImageDriver(service) });
  } finally {
    await driver.close();
    await cleanupHostDir(tmp);
  }
}


/** Allocates every free block of the filesystem holding `dir` (fallocate in halving chunks down to one block). */
async function fillFilesystem(dir: string): Promise<void> {
  await mkdir(dir);
  let chunk = 64 * MiB;
  for (let i = 0; chunk >= 4096; i++) {
    try {
      await runCommand('fallocate', ['-l', String(chunk), path.join(dir, `f${i}`)]);
    } catch {
      chunk /= 2;
    }
  }
}

describe('image driver: data integrity through real mounts', () => {
  it('ext4 volumes on an ext4 pool (sparse copies)', (t) => withImagePool('ext4', {}, ({ driver, hostDir }) => integrityScenario(t, driver, 'p1', hostDir, 64 * MiB)));
  it('ext4 volumes on a btrfs pool (reflinks)', (t) => withImagePool('btrfs', {}, ({ driver, hostDir }) => integrityScenario(t, driver, 'p1', hostDir, 64 * MiB)));
  it('xfs volumes (grown online)', (t) =>
    withImagePool('btrfs', { fsType: 'xfs' }, ({ driver, hostDir }) => integrityScenario(t, driver, 'p1', hostDir, 320 * MiB), 2048 * MiB));
  it('reflinks on a reflink-capable pool and copies where told not to', () =>
    withImagePool('btrfs', {}, async ({ driver, root }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 64 * MiB, parameters: {} });
      await driver.snapshot(newId('snap'), ref(volume));
      const metas = await readdir(path.join(root, '.meta', 'snapshots'));
      const { readFile } = await import('node:fs/promises');
      assert.equal(JSON.parse(await readFile(path.join(root, '.meta', 'snapshots', metas[0]!), 'utf8')).reflinked, true);
    }));
});

describe('image driver: failures', () => {
  it('a full pool: mkfs fails with INSUFFICIENT_CAPACITY and nothing is left behind', () =>
    withImagePool('ext4', {}, async ({ driver, root }) => {
      const before = await driver.list('p1');
      await fillFilesystem(path.join(root, '..', 'filler'));
      await expectCode(driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 256 * MiB, parameters: {} }), 'INSUFFICIENT_CAPACITY', /no space/);
      assert.deepEqual(await driver.list('p1'), before);
      assert.deepEqual(await readdir(path.join(root, '.staging')), [], 'no half-made image');
      assert.deepEqual(await readdir(path.join(root, '.meta', 'volumes')), [], 'no metadata of it');
    }, 128 * MiB));

  it('a copy that cannot fit is refused before it starts (reflink: never)', () =>
    withImagePool('ext4', { reflink: 'never' }, async ({ driver, root, hostDir }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 96 * MiB, parameters: {} });
      const staging = path.join(hostDir, 's');
      await driver.node.attach(ref(volume), mount);
      await driver.node.stage(ref(volume), staging, mount);
      await writeFile(path.join(staging, 'big.bin'), Buffer.alloc(80 * MiB, 7));
      await driver.node.unstage(ref(volume), staging);
      await driver.node.detach(ref(volume));
      await expectCode(driver.snapshot(newId('snap'), ref(volume)), 'INSUFFICIENT_CAPACITY', /the copy needs/);
      assert.deepEqual(await readdir(path.join(root, '.staging')), []);
      assert.deepEqual(await readdir(path.join(root, 'snapshots')), []);
    }, 160 * MiB));

  it('a sparse copy aborted midway leaves nothing behind, and the same clone works after', () =>
    withImagePool('ext4', { reflink: 'never' }, async ({ driver, root, hostDir }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 512 * MiB, parameters: {} });
      const staging = path.join(hostDir, 's');
      await driver.node.attach(ref(volume), mount);
      await driver.node.stage(ref(volume), staging, mount);
      const handle = await open(path.join(staging, 'big.bin'), 'w');
      try {
        const block = Buffer.alloc(4 * MiB, 9);
        for (let i = 0; i < 100; i++) await handle.write(block);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await driver.node.unstage(ref(volume), staging);
      await driver.node.detach(ref(volume));
      const before = await driver.list('p1');
      const request = { volumeId: newId('vol'), pool: 'p1', sizeBytes: 512 * MiB, parameters: {}, source: { kind: 'volume' as const, ref: ref(volume) } };
      const controller = new AbortController();
      let abortedAt = 0;
      const attempt = driver.create(request, {
        signal: controller.signal,
        onProgress: (p) => {
          if (abortedAt === 0 && p.doneBytes > 0 && p.doneBytes < p.totalBytes) {
            abortedAt = p.doneBytes;
            controller.abort();
          }
        },
      });
      await assert.rejects(attempt);
      assert.ok(abortedAt > 0, 'the copy reported progress before it ended');
      assert.deepEqual(await driver.list('p1'), before);
      assert.deepEqual(await readdir(path.join(root, '.staging')), [], 'no half-made image');
      assert.equal((await driver.create(request)).backendId, request.volumeId);
    }, 2048 * MiB));

  it('a mount failure leaves nothing mounted; a damaged filesystem is refused by fsck', () =>
    withImagePool('ext4', {}, async ({ driver, root, hostDir }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 16 * MiB, parameters: {} });
      const staging = path.join(hostDir, 's');
      await driver.node.attach(ref(volume), mount);
      await expectCode(driver.node.stage(ref(volume), staging, { ...mount, mountFlags: ['data=bogus'] }), 'BACKEND_ERROR', /mount/);
      assert.equal(await findmnt(staging), undefined);
      await driver.node.detach(ref(volume));

      // Zero every superblock: e2fsck -p cannot repair it, so stage refuses and names fsck.
      const image = path.join(root, 'volumes', `${volume.backendId}.img`);
      const handle = await open(image, 'r+');
      try {
        await handle.write(Buffer.alloc(16 * MiB), 0, 16 * MiB, 0);
      } finally {
        await handle.close();
      }
      await driver.node.attach(ref(volume), mount);
      await expectCode(driver.node.stage(ref(volume), staging, mount), 'FAILED_PRECONDITION', /e2fsck/);
      assert.equal(await findmnt(staging), undefined);
      await driver.node.detach(ref(volume));
      assert.deepEqual(await loopsOf(image), []);
    }));

  it('a loop device that vanishes is noticed, and attach makes a new one', () =>
    withImagePool('ext4', {}, async ({ driver, root, hostDir }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 16 * MiB, parameters: {} });
      const image = path.join(root, 'volumes', `${volume.backendId}.img`);
      const staging = path.join(hostDir, 's');
      const first = await driver.node.attach(ref(volume), mount);
      await runCommand('losetup', ['-d', first.devicePath!]); // someone else detaches it
      assert.deepEqual(await loopsOf(image), []);
      await expectCode(driver.node.stage(ref(volume), staging, mount), 'FAILED_PRECONDITION', /not attached on this node/);
      const second = await driver.node.attach(ref(volume), mount);
      assert.deepEqual(await loopsOf(image), [second.devicePath]);
      await driver.node.stage(ref(volume), staging, mount);
      await writeFile(path.join(staging, 'f'), 'x');

      // Detaching under a mount only marks the device for release when the mount goes.
      await runCommand('losetup', ['-d', second.devicePath!]);
      await expectCode(driver.node.detach(ref(volume)), 'FAILED_PRECONDITION', /still mounted/);
      await driver.node.unstage(ref(volume), staging);
      await driver.node.detach(ref(volume));
      assert.deepEqual(await loopsOf(image), []);
      assert.deepEqual((await driver.node.attachedVolumes()).filter((a) => a.backendId === volume.backendId), []);
      // A volume attached here cannot be deleted.
      await driver.node.attach(ref(volume), mount);
      await expectCode(driver.delete(ref(volume)), 'FAILED_PRECONDITION', /attached on this node/);
      await driver.node.detach(ref(volume));
      await driver.delete(ref(volume));
    }));

  it('a restart in the middle of stage: the loop is found again, nothing is attached twice', () =>
    withImagePool('ext4', {}, async ({ driver, root, hostDir, reopen }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 16 * MiB, parameters: {} });
      const image = path.join(root, 'volumes', `${volume.backendId}.img`);
      const staging = path.join(hostDir, 's');
      const attached = await driver.node.attach(ref(volume), mount);
      await driver.close(); // the agent dies between attach and mount
      const restarted = reopen();
      try {
        assert.deepEqual(
          (await restarted.node.attachedVolumes()).map((a) => ({ ...a })),
          [{ pool: 'p1', backendId: volume.backendId, devicePath: attached.devicePath, mountPaths: [] }],
        );
        assert.deepEqual(await restarted.node.attach(ref(volume), mount), attached);
        await restarted.node.stage(ref(volume), staging, mount);
        await restarted.node.stage(ref(volume), staging, mount);
        assert.deepEqual(await loopsOf(image), [attached.devicePath]);
        assert.equal((await loopsFor(image)).length, 1);
        assert.ok(await findmnt(staging));
        await restarted.node.unstage(ref(volume), staging);
        await restarted.node.detach(ref(volume));
      } finally {
        await restarted.close();
      }
    }));

  it('refuses bad configuration and parameters naming the key', async () => {
    assert.throws(() => createImageDriver(imageService('/srv/x', { fsType: 'ntfs' })), /services\.blocks\.pools\.p1\.fsType: "ntfs" is not a supported filesystem; accepted: ext4, xfs/);
    assert.throws(() => createImageDriver(imageService('/srv/x', { reflink: 'sometimes' })), /services\.blocks\.pools\.p1\.reflink: .*accepted: auto, always, never/);
    assert.throws(() => createImageDriver(imageService('/srv/x', { fsck: 'yes' })), /services\.blocks\.pools\.p1\.fsck: .*accepted: preen, repair, off/);
    await withImagePool('ext4', {}, async ({ driver }) => {
      await expectCode(driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 64 * MiB, parameters: { fsType: 'vfat' } }), 'INVALID_ARGUMENT', /^parameters\.fsType: /);
      await expectCode(driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 64 * MiB, parameters: { fsType: 'xfs' } }), 'OUT_OF_RANGE', /at least 300Mi/);
      await expectCode(driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 64 * MiB, parameters: { accessType: 'file' } }), 'INVALID_ARGUMENT', /^parameters\.accessType: /);
      const raw = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 4 * MiB, parameters: { accessType: 'block' } });
      await expectCode(driver.node.attach(ref(raw), mount), 'FAILED_PRECONDITION', /raw block volume/);
      const ext4 = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 4 * MiB, parameters: {} });
      await driver.node.attach(ref(ext4), mount);
      await expectCode(driver.node.stage(ref(ext4), '/tmp/polly-never-mounted', { ...mount, fsType: 'xfs' }), 'FAILED_PRECONDITION', /holds ext4, not xfs/);
      await driver.node.detach(ref(ext4));
    });
  });
});
