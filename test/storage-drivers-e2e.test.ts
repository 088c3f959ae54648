/**
 * The image and btrfs drivers end to end from the CLI: a real server process whose services
 * use a loop-mounted btrfs (quotas on) for both drivers; volumes, snapshots and volumes from
 * snapshots are made and removed with `polly`, and the backend is inspected on disk.
 * Needs root (loop devices, mounts); every mount and loop device is released after, also on failure.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../src/drivers/node/run-command.js';
import { cleanupHostDir } from '../src/drivers/node/testing/host-cleanup.js';
import { makeLoopFilesystem } from '../src/drivers/node/testing/loop-filesystem.js';
import { cleanup, cliRun, startPollyServer, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };

after(cleanup);

describe('image and btrfs services through the CLI', LONG, () => {
  let server: RunningServer | undefined;
  const host = mkdtempSync(join(tmpdir(), 'polly-e2e-storage-'));
  let fsRoot = '';

  before(async () => {
    fsRoot = await makeLoopFilesystem(host, 'btrfs', 'btrfs', 2 * 1024 ** 3);
    await runCommand('btrfs', ['quota', 'enable', fsRoot]);
    server = await startPollyServer({
      config: {
        services: {
          blocks: { driver: 'image', defaults: { size: '256Mi' }, pools: [{ name: 'a', path: join(fsRoot, 'images'), overcommit: 4, reflink: 'auto' }] },
          cow: { driver: 'btrfs', defaults: { size: '64Mi' }, pools: [{ name: 'b', path: join(fsRoot, 'cow') }] },
        },
      },
    });
  });
  after(async () => {
    await server?.stop();
    await cleanupHostDir(host);
  });

  async function ok(args: string[]): Promise<any> {
    const r = await cliRun(server!, [...args, '--format', 'json']);
    assert.equal(r.code, 0, `polly ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout);
  }

  it('creates, snapshots, restores and removes image volumes', async () => {
    const volume = await ok(['volume', 'create', '--servicename', 'blocks', '--name', 'db1', '--size', '256Mi']);
    const image = join(fsRoot, 'images', 'volumes', `${volume.id}.img`);
    assert.equal(statSync(image).size, 256 * 1024 ** 2);
    assert.ok(statSync(image).blocks * 512 < 64 * 1024 ** 2, 'the image is sparse');
    const snap = await ok(['volume', 'snapshot', '--volumeid', volume.id, '--name', 'before-upgrade']);
    assert.ok(existsSync(join(fsRoot, 'images', 'snapshots', `${snap.id}.img`)));
    const restored = await ok(['volume', 'create', '--servicename', 'blocks', '--name', 'db1-restored', '--fromsnapshot', snap.id]);
    const pools = await ok(['pool', 'ls']);
    assert.ok(JSON.stringify(pools).includes('"a"'), JSON.stringify(pools));
    for (const id of [restored.id, volume.id]) await ok(['volume', 'remove', '--volumeid', id]);
    await ok(['snapshot', 'rm', snap.id]);
    assert.ok(!existsSync(image));
  });

  it('creates, snapshots, clones and removes btrfs volumes', async () => {
    const volume = await ok(['volume', 'create', '--servicename', 'cow', '--name', 'cache', '--size', '64Mi']);
    const subvolume = join(fsRoot, 'cow', 'volumes', volume.id);
    assert.equal(statSync(subvolume).ino, 256, 'a subvolume');
    const snap = await ok(['volume', 'snapshot', '--volumeid', volume.id, '--name', 'nightly']);
    const { stdout } = await runCommand('btrfs', ['property', 'get', '-ts', join(fsRoot, 'cow', 'snapshots', snap.id), 'ro']);
    assert.match(stdout, /ro=true/);
    const clone = await ok(['volume', 'create', '--servicename', 'cow', '--name', 'cache-clone', '--fromvolume', volume.id]);
    assert.equal(statSync(join(fsRoot, 'cow', 'volumes', clone.id)).ino, 256);
    for (const id of [clone.id, volume.id]) await ok(['volume', 'remove', '--volumeid', id]);
    await ok(['snapshot', 'rm', snap.id]);
    assert.ok(!existsSync(subvolume));
  });
});
