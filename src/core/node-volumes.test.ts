import assert from 'node:assert/strict';
import { readFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { cleanupHostDir, findmnt } from '../drivers/node/testing/host-cleanup.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ADMIN, type Caller, type ServiceSpec } from './model.js';
import { keys } from './keys.js';
import { Polly } from './polly.js';
import { systemClock } from './ports/clock.js';
import { silentLogger } from './ports/logger.js';
import { MiB } from './units.js';
import { expectCode } from './testing/expect-code.js';

interface World {
  readonly polly: Polly;
  readonly host: string;
}

/** A Polly with one dir service, a SQLite store and (unless told otherwise) a local node id; real mounts, needs root. */
async function withWorld(fn: (w: World) => Promise<void>, nodeId: string | null = 'node-a'): Promise<void> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-node-volumes-'));
  const store = SqliteStore.open(path.join(tmp, 'polly.db'));
  const spec: ServiceSpec = {
    name: 'default', driver: 'dir', defaultSizeBytes: MiB, quota: {}, driverConfig: {},
    pools: [{ name: 'local', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: path.join(tmp, 'pool') } }],
  };
  let polly: Polly | undefined;
  try {
    polly = await Polly.open({
      store, services: [spec], drivers: new Map([['default', createDirDriver(spec)]]), clock: systemClock, logger: silentLogger,
      placement: { filters: ['service', 'capacity'], scorers: {}, minFeasiblePools: 10, feasiblePercent: 100 },
      ...(nodeId === null ? {} : { nodeId }),
    });
    await fn({ polly, host: path.join(tmp, 'host') });
  } finally {
    await polly?.close();
    await store.close();
    await cleanupHostDir(tmp);
  }
}


const createVolume = async (polly: Polly, name: string, caller: Caller = ADMIN) =>
  (await polly.createVolume(caller, { service: 'default', name, sizeBytes: 4 * MiB })).volume;

describe('node-side use cases (local node)', () => {
  it('reports what is mounted here that the catalog does not explain', () =>
    withWorld(async ({ polly, host }) => {
      const v = await createVolume(polly, 'data');
      await polly.attachVolume(ADMIN, v.id, { nodeId: 'node-a' });
      const staging = path.join(host, 'staging');
      await polly.stageVolume(ADMIN, v.id, { stagingPath: staging });
      // The catalog loses the attachment (another server detached it) while it is mounted here.
      await polly.detachVolume(ADMIN, v.id, 'node-a');
      const report = await polly.reconcileNodeVolumes(ADMIN);
      assert.deepEqual(report.unknown, []);
      assert.deepEqual(report.notAttachedHere.map((n) => ({ volumeId: n.volumeId, mountPaths: n.mountPaths })), [{ volumeId: v.id, mountPaths: [staging] }]);
      assert.ok(await findmnt(staging), 'reported, not unmounted');
      await polly.unstageVolume(ADMIN, v.id, staging);
      // A backend volume the catalog does not know, mounted by hand.
      const stray = await polly.createVolume(ADMIN, { service: 'default', name: 'stray', sizeBytes: MiB });
      await polly.attachVolume(ADMIN, stray.volume.id, { nodeId: 'node-a' });
      await polly.stageVolume(ADMIN, stray.volume.id, { stagingPath: staging });
      await polly.ctx.store.txn({ compares: [], ops: [{ type: 'delete', key: keys.volume(stray.volume.id) }] });
      const strays = await polly.reconcileNodeVolumes(ADMIN);
      assert.deepEqual(strays.unknown.map((n) => n.backendId), [stray.volume.backendId]);
      assert.deepEqual(strays.notAttachedHere, []);
    }));

  it('stages and publishes an attached volume, and undoes it', () =>
    withWorld(async ({ polly, host }) => {
      const v = await createVolume(polly, 'data');
      const staging = path.join(host, 'staging', v.id);
      const target = path.join(host, 'pods', 'p', 'vol');
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: staging }), 'FAILED_PRECONDITION', /not attached to node node-a; attach it first/);
      await polly.attachVolume(ADMIN, v.id, { nodeId: 'node-a' });
      assert.deepEqual(await polly.stageVolume(ADMIN, v.id, { stagingPath: staging }), {});
      await polly.stageVolume(ADMIN, v.id, { stagingPath: staging });
      await polly.publishVolume(ADMIN, v.id, { stagingPath: staging, targetPath: target });
      await writeFile(path.join(target, 'f'), 'hello');
      assert.equal(await readFile(path.join(staging, 'f'), 'utf8'), 'hello');
      const stats = await polly.nodeVolumeStats(ADMIN, v.id, target);
      assert.ok(stats.totalBytes > 0);
      assert.ok((await polly.expandVolumeOnNode(ADMIN, v.id, staging)).totalBytes > 0);
      const listed = await polly.listNodeVolumes(ADMIN);
      assert.deepEqual(listed.map((l) => ({ ...l, mountPaths: [...l.mountPaths].sort() })), [
        { service: 'default', pool: 'local', backendId: v.backendId, volumeId: v.id, mountPaths: [staging, target].sort() },
      ]);
      assert.deepEqual(await polly.reconcileNodeVolumes(ADMIN), { unknown: [], notAttachedHere: [] });
      await polly.unpublishVolume(ADMIN, v.id, target);
      await polly.unpublishVolume(ADMIN, v.id, target);
      await polly.unstageVolume(ADMIN, v.id, staging);
      await polly.unstageVolume(ADMIN, v.id, staging);
      assert.equal(await findmnt(staging), undefined);
      assert.deepEqual(await polly.listNodeVolumes(ADMIN), []);
      await polly.detachVolume(ADMIN, v.id, 'node-a');
    }));

  it('refuses volumes attached elsewhere, bad paths, bad options and unknown volumes', () =>
    withWorld(async ({ polly, host }) => {
      const v = await createVolume(polly, 'data');
      await polly.attachVolume(ADMIN, v.id, { nodeId: 'node-b' });
      const staging = path.join(host, 'staging');
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: staging }), 'FAILED_PRECONDITION', /attached to node-b/);
      await expectCode(polly.publishVolume(ADMIN, v.id, { stagingPath: staging, targetPath: path.join(host, 't') }), 'FAILED_PRECONDITION', /node-b/);
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: 'relative' }), 'INVALID_ARGUMENT', /^stagingPath: /);
      await expectCode(polly.publishVolume(ADMIN, v.id, { stagingPath: staging, targetPath: `${host}/../etc` }), 'INVALID_ARGUMENT', /^targetPath: /);
      await expectCode(polly.unpublishVolume(ADMIN, v.id, 'x'), 'INVALID_ARGUMENT', /^targetPath: /);
      await expectCode(polly.nodeVolumeStats(ADMIN, v.id, '/a/../b'), 'INVALID_ARGUMENT', /^volumePath: /);
      await expectCode(polly.stageVolume(ADMIN, 'vol-nope', { stagingPath: staging }), 'NOT_FOUND');
      await polly.detachVolume(ADMIN, v.id, 'node-b');
      await polly.attachVolume(ADMIN, v.id, { nodeId: 'node-a' });
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: staging, accessType: 'block' }), 'UNSUPPORTED');
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: staging, accessType: 'raw' as 'block' }), 'INVALID_ARGUMENT', /^accessType: /);
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: staging, fsType: 'ext4 -o x' }), 'INVALID_ARGUMENT', /^fsType: /);
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: staging, mountFlags: ['remount'] }), 'INVALID_ARGUMENT', /^mountFlags\[0\]: /);
      assert.equal(await findmnt(staging), undefined, 'nothing was mounted by the refused calls');
      // A scheduler that may not see the volume gets NOT_FOUND, exactly as for a missing one.
      const other: Caller = { kind: 'scheduler', name: 'k8s', services: '*' };
      await expectCode(polly.stageVolume(other, v.id, { stagingPath: staging }), 'NOT_FOUND');
      await expectCode(polly.listNodeVolumes(other), 'FORBIDDEN');
    }));

  it('publishes a read-only attachment read-only and refuses a writable publish', () =>
    withWorld(async ({ polly, host }) => {
      const v = await createVolume(polly, 'data');
      await polly.attachVolume(ADMIN, v.id, { nodeId: 'node-a', accessMode: 'rox' });
      const staging = path.join(host, 'staging');
      const target = path.join(host, 'target');
      await polly.stageVolume(ADMIN, v.id, { stagingPath: staging });
      await expectCode(polly.publishVolume(ADMIN, v.id, { stagingPath: staging, targetPath: target, readOnly: false }), 'FAILED_PRECONDITION', /read-only/);
      await polly.publishVolume(ADMIN, v.id, { stagingPath: staging, targetPath: target });
      await assert.rejects(writeFile(path.join(target, 'x'), 'x'), { code: 'EROFS' });
      await polly.unpublishVolume(ADMIN, v.id, target);
      await polly.unstageVolume(ADMIN, v.id, staging);
    }));

  it('refuses node-side work without an in-process agent', () =>
    withWorld(async ({ polly, host }) => {
      const v = await createVolume(polly, 'data');
      await expectCode(polly.stageVolume(ADMIN, v.id, { stagingPath: path.join(host, 's') }), 'FAILED_PRECONDITION', /in-process agent/);
      await expectCode(polly.listNodeVolumes(ADMIN), 'FAILED_PRECONDITION');
    }, null));
});
