/**
 * The kernel side of a fence (fenceMounts, D82) with real mounts, namespaces and loop devices
 * (root):
 *   - a volume mount that is shared (as under systemd's rshared tree): a namespace that only has
 *     a slave copy of it (a service with PrivateTmp, a pod with HostToContainer propagation) is
 *     left alone and loses the copy with the unmount; one whose process works in its copy is
 *     stopped; one with a private copy (a container) is stopped;
 *   - a dir volume (a bind mount of a directory) of a pool that is itself a filesystem on a loop
 *     device: the fence unmounts the volume and leaves the pool's loop device alone.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { fenceMounts } from '../src/agent/fence-kernel.js';
import { parseMountInfo } from '../src/drivers/node/mount-table.js';
import { runCommand } from '../src/drivers/node/run-command.js';
import { cleanupHostDir, findmnt, loopsOf } from '../src/drivers/node/testing/host-cleanup.js';
import { processRunning, waitFor } from './support/agent-process.js';
import { namespaceSettled, privateMountNamespace } from './support/mount-namespace.js';
import { cleanup, tempDir } from './support/server-process.js';

after(cleanup);

const procs: ChildProcess[] = [];
let root: string | undefined;

afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await waitFor('the namespaces to go', async () => (procs.every((p) => !processRunning(p.pid!)) ? true : undefined), 5_000).catch(() => undefined);
  if (root) await cleanupHostDir(root);
  root = undefined;
});

const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

/** Mount points of `pid`'s namespace at or under `dir`. */
const mountsSeenBy = (pid: number, dir: string): string[] =>
  parseMountInfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`));

async function namespace(keep: string[], options: Parameters<typeof privateMountNamespace>[1]): Promise<ChildProcess> {
  const p = privateMountNamespace(keep, options);
  procs.push(p);
  await namespaceSettled(p);
  return p;
}

describe('fenceMounts', { timeout: 60_000 }, () => {
  it('stops users of a shared volume mount, not namespaces that only received a slave copy of it', async () => {
    root = tempDir('fence-kernel');
    // A tree with shared propagation, as systemd makes `/`: a namespace made a slave of it
    // receives the unmounts made here.
    const tree = join(root, 'tree');
    mkdirSync(tree);
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'fence-tree', tree]);
    await runCommand('mount', ['--make-rshared', tree]);
    const mountDir = join(tree, 'mounts');
    const vol = join(mountDir, 'vol-1');
    mkdirSync(vol, { recursive: true });
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'fence-vol', vol]);

    const bystander = await namespace([tree], { propagation: 'slave' });
    const slaveUser = await namespace([tree], { propagation: 'slave', cwd: vol });
    const container = await namespace([tree], { propagation: 'private' });
    for (const p of [bystander, slaveUser, container]) assert.deepEqual(mountsSeenBy(p.pid!, vol), [vol], 'each namespace has its copy');
    const info = parseMountInfo(readFileSync(`/proc/${bystander.pid}/mountinfo`, 'utf8')).find((m) => m.mountPoint === vol)!;
    assert.ok(info.optional.some((f) => f.startsWith('master:')), `a slave copy: ${info.optional.join(' ')}`);

    const report = await fenceMounts(mountDir);
    const killed = report.killed.map((k) => k.pid);
    assert.ok(killed.includes(slaveUser.pid!), `the process working in its slave copy is stopped: ${JSON.stringify(report)}`);
    assert.ok(killed.includes(container.pid!), `the namespace with a private copy is stopped: ${JSON.stringify(report)}`);
    assert.ok(!killed.includes(bystander.pid!), `a namespace that only received a slave copy is left alone: ${JSON.stringify(report)}`);
    assert.deepEqual(report.unmounted, [vol]);
    assert.deepEqual(report.failed, []);
    assert.equal(await findmnt(vol), undefined, 'unmounted here');
    await waitFor('the users to be gone', async () => (exited(slaveUser) && exited(container) ? true : undefined), 5_000);
    assert.equal(exited(bystander), false);
    assert.deepEqual(mountsSeenBy(bystander.pid!, vol), [], 'the unmount reached the slave copy');
  });

  it('leaves the loop device of a dir pool\'s own filesystem attached when it fences a bind-mounted volume', async () => {
    root = tempDir('fence-kernel');
    const image = join(root, 'pool.img');
    const pool = join(root, 'pool');
    const mountDir = join(root, 'mounts');
    const vol = join(mountDir, 'vol-1');
    mkdirSync(pool);
    mkdirSync(vol, { recursive: true });
    await runCommand('truncate', ['-s', '16M', image]);
    await runCommand('mkfs.ext4', ['-q', '-F', image]);
    const loop = (await runCommand('losetup', ['--find', '--show', '--', image])).stdout.trim();
    await runCommand('mount', [loop, pool]);
    mkdirSync(join(pool, 'vol-1'));
    await runCommand('mount', ['--bind', join(pool, 'vol-1'), vol]);

    const report = await fenceMounts(mountDir);
    assert.deepEqual(report.unmounted, [vol]);
    assert.deepEqual(report.detached, [], JSON.stringify(report));
    assert.deepEqual(report.failed, []);
    assert.ok(await findmnt(pool), 'the pool is still mounted');
    assert.deepEqual(await loopsOf(image), [loop], 'the pool\'s loop device is still attached');
    const autoclear = readFileSync(`/sys/block/${loop.replace('/dev/', '')}/loop/autoclear`, 'utf8').trim();
    assert.equal(autoclear, '0', 'and not marked for release');
  });
});
