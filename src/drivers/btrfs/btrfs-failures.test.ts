import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { newId } from '../../core/ids.js';
import type { BackendRef, BackendVolume, NodeAccess } from '../../core/ports/storage-driver.js';
import { integrityScenario, isNoSpace } from '../integrity-scenario.js';
import { cleanupHostDir } from '../node/testing/host-cleanup.js';
import { createBtrfsDriver } from './btrfs-driver.js';
import { btrfsPoolFs, btrfsService } from './btrfs-test-pool.js';
import { expectCode } from '../../core/testing/expect-code.js';

const MiB = 1024 * 1024;
const mount: NodeAccess = { mode: 'mount', readonly: false };
const ref = (v: BackendVolume): BackendRef => ({ pool: v.pool, backendId: v.backendId });


describe('btrfs driver: data integrity and failures', () => {
  it('keeps data through snapshots, clones and an expand while mounted', async (t) => {
    const { tmp, root, hostDir } = await btrfsPoolFs();
    const driver = createBtrfsDriver(btrfsService(root));
    try {
      await integrityScenario(t, driver, 'p1', hostDir, 64 * MiB);
    } finally {
      await driver.close();
      await cleanupHostDir(tmp);
    }
  });

  it('enforces the size with the qgroup limit and reports usage from it', async () => {
    const { tmp, root, hostDir } = await btrfsPoolFs();
    const driver = createBtrfsDriver(btrfsService(root));
    try {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 16 * MiB, parameters: {} });
      const staging = path.join(hostDir, 's');
      await driver.node.attach(ref(volume), mount);
      await driver.node.stage(ref(volume), staging, mount);
      await writeFile(path.join(staging, 'small.bin'), Buffer.alloc(4 * MiB, 3));
      const used = await driver.usage(ref(volume));
      assert.ok(used !== undefined && used >= 4 * MiB && used < 16 * MiB, `usage ${used}`);
      const stats = await driver.node.stats(ref(volume), staging);
      assert.equal(stats.totalBytes, 16 * MiB);
      assert.ok(stats.usedBytes >= 4 * MiB && stats.availableBytes <= 12 * MiB, JSON.stringify(stats));
      await assert.rejects(writeFile(path.join(staging, 'big.bin'), Buffer.alloc(32 * MiB, 4)), isNoSpace);
      await driver.node.unstage(ref(volume), staging);
      await driver.node.detach(ref(volume));
    } finally {
      await driver.close();
      await cleanupHostDir(tmp);
    }
  });

  it('refuses a pool without quotas, and one that is not btrfs, naming the fix', async () => {
    const { tmp, root } = await btrfsPoolFs(false);
    const driver = createBtrfsDriver(btrfsService(root));
    const notBtrfs = createBtrfsDriver(btrfsService(path.join(tmp, 'plain')));
    try {
      await expectCode(driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: MiB, parameters: {} }), 'FAILED_PRECONDITION', /btrfs quota enable/);
      await expectCode(driver.capacity('p1'), 'FAILED_PRECONDITION', /services\.cow\.pools\.p1\.path: .*quotas are not enabled/);
      await expectCode(notBtrfs.capacity('p1'), 'FAILED_PRECONDITION', /is not on a btrfs filesystem/);
    } finally {
      await driver.close();
      await notBtrfs.close();
      await cleanupHostDir(tmp);
    }
  });

  it('refuses to delete a mounted volume; a restart finds its mounts again', async () => {
    const { tmp, root, hostDir } = await btrfsPoolFs();
    const service = btrfsService(root);
    const driver = createBtrfsDriver(service);
    const restarted = createBtrfsDriver(service);
    try {
      const volume = await driver.create({ volumeId: newId('vol'), pool: 'p1', sizeBytes: 16 * MiB, parameters: {} });
      const staging = path.join(hostDir, 's');
      await driver.node.stage(ref(volume), staging, mount);
      await expectCode(driver.delete(ref(volume)), 'FAILED_PRECONDITION', /mounted on this node/);
      await driver.close();
      assert.deepEqual(await restarted.node.attachedVolumes(), [{ pool: 'p1', backendId: volume.backendId, mountPaths: [staging] }]);
      await restarted.node.stage(ref(volume), staging, mount);
      await restarted.node.unstage(ref(volume), staging);
      await restarted.delete(ref(volume));
      assert.deepEqual(await restarted.list('p1'), []);
    } finally {
      await driver.close();
      await restarted.close();
      await cleanupHostDir(tmp);
    }
  });
});
