import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { access, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PollyError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { BackendRef, BackendVolume, NodeAccess, StorageDriver } from '../core/ports/storage-driver.js';
import { mountsAt, readMountTable } from './node/mount-table.js';
import { findmnt } from './node/testing/host-cleanup.js';
import { expectCode } from '../core/testing/expect-code.js';

const MiB = 1024 * 1024;

export interface NodeContractFixture {
  readonly driver: StorageDriver;
  /** A pool of the driver, empty at the start. */
  readonly pool: string;
  /** An empty directory for staging and target paths. */
  readonly hostDir: string;
  /** A new driver instance on the same pools, as after an agent restart. */
  readonly reopen: () => StorageDriver;
  /** Unmounts, detaches and removes everything the fixture made; runs after every case, also on failure. */
  readonly cleanup: () => Promise<void>;
  /** Stats of a mounted volume reflect the volume's size (a filesystem or quota of its own). */
  readonly sizedStats: boolean;
  /** Volume size used by the cases (drivers with a filesystem need room for it). */
  readonly sizeBytes?: number;
}

const mountAccess = (readonly = false): NodeAccess => ({ mode: 'mount', readonly });

/**
 * The node side of the StorageDriver contract (see NodeSideDriver in
 * src/core/ports/storage-driver.ts), run with real mounts: every case needs root.
 */
export function nodeContract(name: string, setup: () => Promise<NodeContractFixture>): void {
  const using = async (fn: (f: NodeContractFixture) => Promise<void>): Promise<void> => {
    const fixture = await setup();
    try {
      await fn(fixture);
    } finally {
      await fixture.driver.close().catch(() => undefined);
      await fixture.cleanup();
    }
  };
  const create = (f: NodeContractFixture): Promise<BackendVolume> =>
    f.driver.create({ volumeId: newId('vol'), pool: f.pool, sizeBytes: f.sizeBytes ?? 64 * MiB, parameters: {} });

  describe(`NodeSideDriver contract: ${name}`, () => {
    it('stages, publishes, unpublishes, unstages and detaches, each idempotent', () =>
      using(async (f) => {
        const { node } = f.driver;
        const volume = await create(f);
        const r = ref(volume);
        const staging = path.join(f.hostDir, 'staging', volume.backendId);
        const target = path.join(f.hostDir, 'pods', 'p1', 'mount');
        await node.attach(r, mountAccess());
        await node.attach(r, mountAccess());
        await node.stage(r, staging, mountAccess());
        await node.stage(r, staging, mountAccess());
        assert.ok(await findmnt(staging), 'findmnt sees the staging mount');
        assert.equal(mountsAt(await readMountTable(), staging).length, 1, 'a repeated stage mounts nothing more');
        await node.publish(r, staging, target, mountAccess());
        await node.publish(r, staging, target, mountAccess());
        assert.equal(mountsAt(await readMountTable(), target).length, 1, 'a repeated publish mounts nothing more');

        const data = randomBytes(256 * 1024);
        await writeFile(path.join(target, 'through-target.bin'), data);
        assert.deepEqual(await readFile(path.join(staging, 'through-target.bin')), data, 'the target shows the staged volume');

        const attached = (await node.attachedVolumes()).find((a) => a.backendId === volume.backendId);
        assert.ok(attached, 'attachedVolumes lists the volume');
        assert.equal(attached.pool, f.pool);
        assert.deepEqual([...attached.mountPaths].sort(), [staging, target].sort());

        await node.unpublish(r, target);
        await node.unpublish(r, target);
        assert.equal(await findmnt(target), undefined);
        await assert.rejects(lstat(target), { code: 'ENOENT' }, 'unpublish removes the target it made');
        await node.unstage(r, staging);
        await node.unstage(r, staging);
        assert.equal(await findmnt(staging), undefined);
        await node.detach(r);
        await node.detach(r);
        const after = (await node.attachedVolumes()).find((a) => a.backendId === volume.backendId);
        assert.ok(after === undefined || after.mountPaths.length === 0, 'nothing of the volume stays mounted');

        // The data stayed in the volume: stage again and read it.
        await node.attach(r, mountAccess());
        await node.stage(r, staging, mountAccess());
        assert.deepEqual(await readFile(path.join(staging, 'through-target.bin')), data);
        await node.unstage(r, staging);
        await node.detach(r);
      }));

    it('publishes read-only when asked, and refuses to change that in place', () =>
      using(async (f) => {
        const { node } = f.driver;
        const volume = await create(f);
        const r = ref(volume);
        const staging = path.join(f.hostDir, 'staging');
        const writable = path.join(f.hostDir, 'rw');
        const readonly = path.join(f.hostDir, 'ro');
        await node.attach(r, mountAccess());
        await node.stage(r, staging, mountAccess());
        await node.publish(r, staging, writable, mountAccess());
        await node.publish(r, staging, readonly, mountAccess(true));
        await writeFile(path.join(writable, 'a.txt'), 'written\n');
        assert.equal(await readFile(path.join(readonly, 'a.txt'), 'utf8'), 'written\n');
        await assert.rejects(writeFile(path.join(readonly, 'b.txt'), 'x'), { code: 'EROFS' });
        assert.match((await findmnt(readonly))?.options ?? '', /(^|,)ro(,|$)/);
        await expectCode(node.publish(r, staging, readonly, mountAccess(false)), 'ALREADY_EXISTS');
        await node.publish(r, staging, readonly, mountAccess(true));
        await node.unpublish(r, readonly);
        await node.unpublish(r, writable);
        await node.unstage(r, staging);
        await node.detach(r);
      }));

    it('refuses bad paths, unstaged publishes, unknown volumes and occupied mount points', () =>
      using(async (f) => {
        const { node } = f.driver;
        const volume = await create(f);
        const other = await create(f);
        const r = ref(volume);
        const staging = path.join(f.hostDir, 'staging');
        for (const bad of ['relative/x', `${f.hostDir}/../x`, '', `${f.hostDir}/a\u0000b`, `${f.hostDir}//x`, '/']) {
          await expectCode(node.stage(r, bad, mountAccess()), 'INVALID_ARGUMENT', bad);
          await expectCode(node.publish(r, staging, bad, mountAccess()), 'INVALID_ARGUMENT', bad);
          await expectCode(node.unpublish(r, bad), 'INVALID_ARGUMENT', bad);
          await expectCode(node.unstage(r, bad), 'INVALID_ARGUMENT', bad);
          await expectCode(node.stats(r, bad), 'INVALID_ARGUMENT', bad);
        }
        await expectCode(node.stage({ pool: f.pool, backendId: '../x' }, staging, mountAccess()), 'INVALID_ARGUMENT');
        await expectCode(node.stage({ pool: 'no-such-pool', backendId: volume.backendId }, staging, mountAccess()), 'INVALID_ARGUMENT');
        await expectCode(node.stage({ pool: f.pool, backendId: newId('vol') }, staging, mountAccess()), 'NOT_FOUND');
        await expectCode(node.publish(r, staging, path.join(f.hostDir, 't'), mountAccess()), 'FAILED_PRECONDITION');
        assert.equal(await findmnt(path.join(f.hostDir, 't')), undefined);

        await node.attach(r, mountAccess());
        await node.stage(r, staging, mountAccess());
        await node.attach(ref(other), mountAccess());
        await expectCode(node.stage(ref(other), staging, mountAccess()), 'FAILED_PRECONDITION');
        await expectCode(node.stage(r, path.join(f.hostDir, 'flags'), { ...mountAccess(), mountFlags: ['bind'] }), 'INVALID_ARGUMENT');
        await expectCode(node.stage(r, path.join(f.hostDir, 'flags'), { ...mountAccess(), mountFlags: ['a,b'] }), 'INVALID_ARGUMENT');

        // Unmounting what is not mounted is fine; a target with content is never deleted.
        await node.unpublish(r, path.join(f.hostDir, 'never-mounted'));
        const kept = path.join(f.hostDir, 'kept');
        await mkdir(kept);
        await writeFile(path.join(kept, 'user-file'), 'x');
        await node.unpublish(r, kept);
        await access(path.join(kept, 'user-file'));
        await node.unstage(r, staging);
        await node.detach(r);
        await node.detach(ref(other));
      }));

    it('rebuilds what is attached from the kernel after a restart; repeating is idempotent', () =>
      using(async (f) => {
        const volume = await create(f);
        const r = ref(volume);
        const staging = path.join(f.hostDir, 'staging');
        const target = path.join(f.hostDir, 'target');
        await f.driver.node.attach(r, mountAccess());
        await f.driver.node.stage(r, staging, mountAccess());
        await f.driver.close();

        const restarted = f.reopen();
        try {
          const seen = (await restarted.node.attachedVolumes()).find((a) => a.backendId === volume.backendId);
          assert.ok(seen, 'the restarted driver sees the staged volume');
          assert.deepEqual(seen.mountPaths, [staging]);
          await restarted.node.attach(r, mountAccess());
          await restarted.node.stage(r, staging, mountAccess());
          assert.equal(mountsAt(await readMountTable(), staging).length, 1);
          await restarted.node.publish(r, staging, target, mountAccess());
          await restarted.node.unpublish(r, target);
          await restarted.node.unstage(r, staging);
          await restarted.node.detach(r);
          const gone = (await restarted.node.attachedVolumes()).find((a) => a.backendId === volume.backendId);
          assert.ok(gone === undefined || gone.mountPaths.length === 0);
        } finally {
          await restarted.close();
        }
      }));

    it('reports stats of a mounted volume, and grows on the node after an expand', (t) =>
      using(async (f) => {
        const { node } = f.driver;
        const volume = await create(f);
        const r = ref(volume);
        const staging = path.join(f.hostDir, 'staging');
        await node.attach(r, mountAccess());
        await node.stage(r, staging, mountAccess());
        const data = randomBytes(2 * MiB);
        await writeFile(path.join(staging, 'data.bin'), data);
        const stats = await node.stats(r, staging);
        assert.ok(stats.totalBytes > 0 && stats.usedBytes >= 0 && stats.availableBytes >= 0, JSON.stringify(stats));
        assert.ok(stats.usedBytes <= stats.totalBytes && stats.availableBytes <= stats.totalBytes, JSON.stringify(stats));
        if (f.sizedStats) {
          assert.ok(stats.totalBytes <= volume.sizeBytes, `total ${stats.totalBytes} <= size ${volume.sizeBytes}`);
          assert.ok(stats.totalBytes >= volume.sizeBytes / 2, `total ${stats.totalBytes} is about size ${volume.sizeBytes}`);
        }
        await expectCode(node.stats(r, path.join(f.hostDir, 'not-mounted')), 'NOT_FOUND');
        if (f.driver.capabilities.expand) {
          const grown = await f.driver.expand(r, volume.sizeBytes * 2);
          const online = await node.expandOnNode(r, staging).then(
            () => true,
            (e: unknown) => {
              // The only accepted failure: the kernel does not allow growing this filesystem
              // while mounted here; then the next stage must grow it.
              if (!(e instanceof PollyError && e.code === 'FAILED_PRECONDITION' && e.details['reason'] === 'online-resize-not-permitted')) throw e;
              return false;
            },
          );
          if (online) await node.expandOnNode(r, staging);
          else {
            t.diagnostic('online grow not permitted on this machine: checking the grow at the next stage');
            await node.unstage(r, staging);
            await node.stage(r, staging, mountAccess());
          }
          const after = await node.stats(r, staging);
          if (f.sizedStats) assert.ok(after.totalBytes > stats.totalBytes * 1.5, `grown from ${stats.totalBytes} to ${after.totalBytes} (size ${grown.sizeBytes})`);
          assert.equal(sha(await readFile(path.join(staging, 'data.bin'))), sha(data), 'data survives the expand');
        }
        await node.unstage(r, staging);
        await node.detach(r);
      }));

    it('gives raw block access when the driver has block volumes', (t) =>
      using(async (f) => {
        const { node } = f.driver;
        const volume = await f.driver.create({ volumeId: newId('vol'), pool: f.pool, sizeBytes: 8 * MiB, parameters: { accessType: 'block' } }).catch((e: unknown) => e);
        if (!f.driver.capabilities.block) {
          if (!(volume instanceof Error)) await expectCode(node.attach(ref(volume as BackendVolume), { mode: 'block', readonly: false }), 'UNSUPPORTED');
          return void t.skip('driver has no block volumes');
        }
        assert.ok(!(volume instanceof Error), String(volume));
        const r = ref(volume as BackendVolume);
        const block: NodeAccess = { mode: 'block', readonly: false };
        const attached = await node.attach(r, block);
        assert.ok(attached.devicePath?.startsWith('/dev/'), `device ${attached.devicePath}`);
        assert.deepEqual(await node.attach(r, block), attached);
        const staging = path.join(f.hostDir, 'staging');
        const target = path.join(f.hostDir, 'dev', 'block');
        await node.stage(r, staging, block);
        await node.publish(r, staging, target, block);
        await node.publish(r, staging, target, block);
        const data = randomBytes(MiB);
        await writeFile(target, data, { flag: 'r+' });
        const back = (await readFile(target)).subarray(0, MiB);
        assert.equal(sha(back), sha(data));
        await node.unpublish(r, target);
        await assert.rejects(lstat(target), { code: 'ENOENT' });
        await node.unstage(r, staging);
        await node.detach(r);
        await node.detach(r);
      }));
  });
}

const ref = (v: BackendVolume): BackendRef => ({ pool: v.pool, backendId: v.backendId });
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

