/**
 * The image and btrfs drivers through the node-facing front doors of a real server process:
 * the CSI node service (stage, publish, read-only publish, raw block for image volumes) and the
 * Docker volume plugin (mount, unmount, mount again), on a loop-mounted btrfs with quotas.
 * Data written through one mount is read back through the next. Needs root (loop devices,
 * mounts); every mount and loop device is released after, also on failure.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../src/drivers/node/run-command.js';
import { cleanupHostDir, findmnt } from '../src/drivers/node/testing/host-cleanup.js';
import { makeLoopFilesystem } from '../src/drivers/node/testing/loop-filesystem.js';
import { csiClient, type CsiClient, type Msg } from './support/csi-client.js';
import { blockCap, mountCap } from './support/csi-server.js';
import { mountsUnder, pluginPost } from './support/front-doors.js';
import { MiB } from './support/polly-fixtures.js';
import { cleanup, startPollyServer, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 300_000 };
const SERVICES = ['blocks', 'cow'] as const;

after(cleanup);

describe('image and btrfs volumes through CSI and the Docker plugin', LONG, () => {
  const host = mkdtempSync(join(tmpdir(), 'polly-e2e-doors-'));
  let server: RunningServer | undefined;
  let csi: CsiClient | undefined;
  let nodeId = '';
  let dockerSocket = '';
  let n = 0;

  before(async () => {
    const fsRoot = await makeLoopFilesystem(host, 'btrfs', 'btrfs', 2 * 1024 ** 3);
    await runCommand('btrfs', ['quota', 'enable', fsRoot]);
    server = await startPollyServer({
      config: {
        log: { level: 'warn' },
        server: { nodeId: 'node-a' },
        services: {
          blocks: { driver: 'image', defaults: { size: '256Mi' }, pools: [{ name: 'a', path: join(fsRoot, 'images'), overcommit: 4 }] },
          cow: { driver: 'btrfs', defaults: { size: '64Mi' }, pools: [{ name: 'b', path: join(fsRoot, 'cow') }] },
        },
      },
    });
    csi = csiClient(`unix://${join(server.dataDir, 'csi.sock')}`);
    nodeId = (await csi.node.NodeGetInfo!()).node_id;
    dockerSocket = join(server.dataDir, 'plugins', 'polly.sock'); // the default
  });

  after(async () => {
    csi?.close();
    await server?.stop();
    await cleanupHostDir(host);
  });

  const ctl = () => csi!.controller;
  const node = () => csi!.node;
  const dir = (name: string) => {
    const d = join(host, `${name}-${++n}`);
    mkdirSync(d);
    return d;
  };

  async function stageAndPublish(id: string, cap: Msg, staging: string, target: string, readonly = false): Promise<void> {
    await node().NodeStageVolume!({ volume_id: id, staging_target_path: staging, volume_capability: cap });
    await node().NodePublishVolume!({ volume_id: id, staging_target_path: staging, target_path: target, volume_capability: cap, readonly });
  }

  async function unpublishAndUnstage(id: string, staging: string, targets: string[]): Promise<void> {
    for (const t of targets) await node().NodeUnpublishVolume!({ volume_id: id, target_path: t });
    await node().NodeUnstageVolume!({ volume_id: id, staging_target_path: staging });
    for (const t of targets) assert.equal(await findmnt(t), undefined, `${t} unmounted`);
    assert.equal(await findmnt(staging), undefined, 'staging unmounted');
  }

  for (const service of SERVICES) {
    it(`CSI: a ${service} volume is staged, published (also read-only), and keeps its data across mounts`, async () => {
      const cap = mountCap();
      const { volume } = await ctl().CreateVolume!({ name: `csi-${service}`, parameters: { service }, volume_capabilities: [cap], capacity_range: { required_bytes: 128 * MiB } });
      const id = volume.volume_id as string;
      await ctl().ControllerPublishVolume!({ volume_id: id, node_id: nodeId, volume_capability: cap });
      const staging = dir('staging');
      const target = join(host, `target-${++n}`);
      await stageAndPublish(id, cap, staging, target);
      const data = randomBytes(256 * 1024);
      writeFileSync(join(target, 'data.bin'), data);
      const stats = await node().NodeGetVolumeStats!({ volume_id: id, volume_path: target });
      const bytes = (stats.usage as Msg[]).find((u) => u.unit === 'BYTES')!;
      assert.ok(Number(bytes.total) > 0 && Number(bytes.used) > 0, `stats: ${JSON.stringify(stats.usage)}`);

      const roTarget = join(host, `ro-${++n}`);
      await node().NodePublishVolume!({ volume_id: id, staging_target_path: staging, target_path: roTarget, volume_capability: cap, readonly: true });
      assert.throws(() => writeFileSync(join(roTarget, 'nope'), 'x'), /EROFS/);
      assert.deepEqual(readFileSync(join(roTarget, 'data.bin')), data);
      await unpublishAndUnstage(id, staging, [target, roTarget]);

      // Mounted again from scratch, the data is still there.
      const again = join(host, `again-${++n}`);
      await stageAndPublish(id, cap, staging, again);
      assert.deepEqual(readFileSync(join(again, 'data.bin')), data);
      await unpublishAndUnstage(id, staging, [again]);
      await ctl().ControllerUnpublishVolume!({ volume_id: id, node_id: nodeId });
      await ctl().DeleteVolume!({ volume_id: id });
    });
  }

  it('CSI: an image volume in block mode is published as a block device that keeps what is written to it', async () => {
    const cap = blockCap();
    const { volume } = await ctl().CreateVolume!({ name: 'csi-raw', parameters: { service: 'blocks' }, volume_capabilities: [cap], capacity_range: { required_bytes: 64 * MiB } });
    const id = volume.volume_id as string;
    await ctl().ControllerPublishVolume!({ volume_id: id, node_id: nodeId, volume_capability: cap });
    const staging = dir('staging');
    const target = join(host, `raw-${++n}`);
    await stageAndPublish(id, cap, staging, target);
    assert.ok(statSync(target).isBlockDevice(), 'the target is a block device');
    const block = randomBytes(4096);
    let fd = openSync(target, 'r+');
    try {
      writeSync(fd, block, 0, block.length, 8 * MiB);
    } finally {
      closeSync(fd);
    }
    await unpublishAndUnstage(id, staging, [target]);

    const again = join(host, `raw-again-${++n}`);
    await stageAndPublish(id, cap, staging, again);
    const read = Buffer.alloc(block.length);
    fd = openSync(again, 'r');
    try {
      readSync(fd, read, 0, read.length, 8 * MiB);
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(read, block);
    await unpublishAndUnstage(id, staging, [again]);
    await ctl().ControllerUnpublishVolume!({ volume_id: id, node_id: nodeId });
    await ctl().DeleteVolume!({ volume_id: id });
  });

  for (const service of SERVICES) {
    it(`Docker plugin: a ${service} volume is mounted for one container, then another finds its file`, async () => {
      const post = (path: string, body?: unknown) => pluginPost(dockerSocket, path, body);
      const name = `docker-${service}`;
      const created = await post('/VolumeDriver.Create', { Name: name, Opts: { service, size: '128Mi' } });
      assert.equal(created.body.Err, '', created.text);
      const first = await post('/VolumeDriver.Mount', { Name: name, ID: 'container-1' });
      assert.equal(first.body.Err, '', first.text);
      const mountpoint = first.body.Mountpoint as string;
      assert.deepEqual(mountsUnder(mountpoint), [mountpoint], 'a real mount');
      writeFileSync(join(mountpoint, 'myfile'), `hello from ${service}`);
      assert.equal((await post('/VolumeDriver.Unmount', { Name: name, ID: 'container-1' })).body.Err, '');
      assert.deepEqual(mountsUnder(mountpoint), [], 'unmounted after the last container');

      const second = await post('/VolumeDriver.Mount', { Name: name, ID: 'container-2' });
      assert.equal(second.body.Err, '', second.text);
      assert.equal(readFileSync(join(second.body.Mountpoint as string, 'myfile'), 'utf8'), `hello from ${service}`);
      assert.equal((await post('/VolumeDriver.Unmount', { Name: name, ID: 'container-2' })).body.Err, '');
      assert.equal((await post('/VolumeDriver.Remove', { Name: name })).body.Err, '');
      assert.equal(existsSync(second.body.Mountpoint as string), false);
    });
  }
});
