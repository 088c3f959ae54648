import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { PollyError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { BackendRef, BackendVolume, NodeAccess, StorageDriver } from '../core/ports/storage-driver.js';

const MiB = 1024 * 1024;
const mount: NodeAccess = { mode: 'mount', readonly: false };

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const ref = (v: BackendVolume): BackendRef => ({ pool: v.pool, backendId: v.backendId });

/** Writes `bytes` random bytes to `file` and fsyncs it; returns their sha256. */
export async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const data = randomBytes(bytes);
  const handle = await open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return sha(data);
}

export const fileSha = async (file: string): Promise<string> => sha(await readFile(file));

/** Attaches and stages a volume at `staging`. */
async function stageAt(driver: StorageDriver, volume: BackendVolume, staging: string): Promise<void> {
  await driver.node.attach(ref(volume), mount);
  await driver.node.stage(ref(volume), staging, mount);
}

async function unstageFrom(driver: StorageDriver, volume: BackendVolume, staging: string): Promise<void> {
  await driver.node.unstage(ref(volume), staging);
  await driver.node.detach(ref(volume));
}

/** ENOSPC, or EDQUOT (errno 122, which Node names "Unknown system error -122"). */
export const isNoSpace = (e: unknown): boolean => {
  const err = e as NodeJS.ErrnoException;
  return err?.code === 'ENOSPC' || err?.code === 'EDQUOT' || err?.errno === -122;
};

/** Whether writing `bytes` more into the volume mounted at `dir` succeeds (the file is removed either way). */
async function fits(dir: string, bytes: number): Promise<boolean> {
  const file = path.join(dir, 'room-probe.bin');
  try {
    await writeRandomFile(file, bytes);
    return true;
  } catch (e) {
    if (isNoSpace(e)) return false;
    throw e;
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * Data integrity through real mounts: random data written through a published volume, a
 * snapshot, an overwrite, a volume made from the snapshot (old data) and a clone (new data),
 * checked by sha256; then an expand while mounted, checked by the new size, room for more
 * data than fitted before, and the data still intact.
 */
export async function integrityScenario(t: TestContext, driver: StorageDriver, pool: string, hostDir: string, sizeBytes: number, parameters: Record<string, string> = {}): Promise<void> {
  const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes, parameters });
  const staging = path.join(hostDir, 'staging-a');
  const target = path.join(hostDir, 'pod-a', 'data');
  await stageAt(driver, volume, staging);
  await driver.node.publish(ref(volume), staging, target, mount);
  const dataBytes = Math.floor(sizeBytes / 8);
  const before = await writeRandomFile(path.join(target, 'payload.bin'), dataBytes);

  const snap = await driver.snapshot(newId('snap'), ref(volume));
  const after = await writeRandomFile(path.join(target, 'payload.bin'), dataBytes);
  assert.notEqual(after, before);

  const restored = await driver.create({ volumeId: newId('vol'), pool, sizeBytes, parameters, source: { kind: 'snapshot', ref: ref(snap) } });
  const clone = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: sizeBytes * 2, parameters, source: { kind: 'volume', ref: ref(volume) } });
  const stagingRestored = path.join(hostDir, 'staging-restored');
  const stagingClone = path.join(hostDir, 'staging-clone');
  await stageAt(driver, restored, stagingRestored);
  await stageAt(driver, clone, stagingClone);
  assert.equal(await fileSha(path.join(stagingRestored, 'payload.bin')), before, 'the volume from the snapshot has the data of the snapshot time');
  assert.equal(await fileSha(path.join(target, 'payload.bin')), after, 'the volume has the new data');
  // A clone is taken while the source is mounted and written; its data is what was fsynced.
  assert.equal(await fileSha(path.join(stagingClone, 'payload.bin')), after, 'the clone has the data of the clone time');
  const cloneStats = await driver.node.stats(ref(clone), stagingClone);
  assert.ok(cloneStats.totalBytes > sizeBytes * 1.5, `a clone larger than its source uses its whole size (${cloneStats.totalBytes} of ${sizeBytes * 2})`);
  // Independent: writing the restored volume changes neither the volume nor the snapshot.
  await writeRandomFile(path.join(stagingRestored, 'payload.bin'), dataBytes);
  assert.equal(await fileSha(path.join(target, 'payload.bin')), after);
  await unstageFrom(driver, restored, stagingRestored);
  await unstageFrom(driver, clone, stagingClone);
  const again = await driver.create({ volumeId: newId('vol'), pool, sizeBytes, parameters, source: { kind: 'snapshot', ref: ref(snap) } });
  await stageAt(driver, again, stagingRestored);
  assert.equal(await fileSha(path.join(stagingRestored, 'payload.bin')), before, 'the snapshot did not change');
  await unstageFrom(driver, again, stagingRestored);

  // Expand while mounted and published.
  const statsBefore = await driver.node.stats(ref(volume), target);
  // More than the free room before (filesystems hold some back), well within the room after.
  const extra = statsBefore.availableBytes + Math.max(4 * MiB, Math.floor(sizeBytes / 4));
  assert.equal(await fits(target, extra), false, `${extra} bytes more do not fit before the expand`);
  await driver.expand(ref(volume), sizeBytes * 3);
  try {
    await driver.node.expandOnNode(ref(volume), staging);
  } catch (e) {
    if (!(e instanceof PollyError && e.details['reason'] === 'online-resize-not-permitted')) throw e;
    t.diagnostic('this machine does not allow growing a mounted ext4: checking the grow at the next stage');
    await driver.node.unpublish(ref(volume), target);
    await driver.node.unstage(ref(volume), staging);
    await driver.node.stage(ref(volume), staging, mount);
    await driver.node.publish(ref(volume), staging, target, mount);
  }
  const statsAfter = await driver.node.stats(ref(volume), target);
  assert.ok(statsAfter.totalBytes > statsBefore.totalBytes * 2, `grown from ${statsBefore.totalBytes} to ${statsAfter.totalBytes}`);
  assert.equal(await fileSha(path.join(target, 'payload.bin')), after, 'data survives the expand');
  assert.equal(await fits(target, extra), true, `${extra} bytes more fit after the expand`);

  await driver.node.unpublish(ref(volume), target);
  await unstageFrom(driver, volume, staging);
  for (const v of [volume, restored, clone, again]) await driver.delete(ref(v));
  await driver.deleteSnapshot(ref(snap));
  assert.deepEqual(await driver.list(pool), []);
}
