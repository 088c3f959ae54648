/**
 * Docker volume plugin protocol end to end (specs/docker/volume-plugin.md), against a real
 * `polly server` over its unix socket, with real bind mounts (needs root, as CI runs):
 *   - Activate, Capabilities (global), the plugin content type, {"Err": …} errors;
 *   - Create with size/type/service/iops/labels options, Get with Status, Path, List;
 *   - Mount attaches to this node and mounts at a host path, reference-counted per mount ID;
 *     Unmount by the last holder unmounts and detaches; Remove refuses while mounted;
 *   - bad input: malformed bodies, unknown options, bad names, unknown volumes → Err, nothing made;
 *   - the 2016 rule: the plugin sees volumes created through it or offered to `docker`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loggedAddress, mountsUnder, pluginPost } from './support/front-doors.js';
import { GiB, listAll, volumeDirs } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };

after(cleanup);

function assertErr(res: { status: number; body: any; text: string }, pattern: RegExp, context: string): void {
  assert.equal(res.status, 500, `${context}: ${res.text}`);
  assert.equal(typeof res.body.Err, 'string', `${context}: ${res.text}`);
  assert.match(res.body.Err, pattern, context);
}

describe('Docker volume plugin', LONG, () => {
  let server: RunningServer;
  let sock: string;
  let mountRoot: string;
  const post = (path: string, body?: unknown, raw?: string) => pluginPost(sock, path, body, raw);

  before(async () => {
    server = await startPollyServer({
      config: {
        server: { nodeId: 'node-a' },
        services: { default: { driver: 'dir', pools: [{ name: 'local', capacity: '50Gi', types: ['ssd'], maxIops: 1000 }] }, other: { driver: 'dir' } },
      },
    });
    sock = (await loggedAddress(server, 'docker plugin listening')).socket!;
    assert.equal(sock, join(server.dataDir, 'plugins', 'polly.sock'), 'default socket under the data dir');
    mountRoot = join(server.dataDir, 'mounts');
  });

  after(() => {
    assert.deepEqual(mountsUnder(server.dataDir), [], 'no mount left behind');
  });

  it('activates as a global volume driver speaking the plugin content type', async () => {
    const act = await post('/Plugin.Activate', {});
    assert.equal(act.status, 200);
    assert.deepEqual(act.body, { Implements: ['VolumeDriver'] });
    assert.equal(act.contentType, 'application/vnd.docker.plugins.v1.1+json');
    assert.deepEqual((await post('/VolumeDriver.Capabilities')).body, { Capabilities: { Scope: 'global' } });
  });

  it('creates, inspects, mounts with reference counts, unmounts and removes', async () => {
    const c = await post('/VolumeDriver.Create', { Name: 'web-data', Opts: { size: '1', type: 'ssd', iops: '100', labels: 'app=web,tier=db' } });
    assert.equal(c.status, 200, c.text);
    assert.deepEqual(c.body, { Err: '' });
    const [admin] = await listAll(server, '/v1/volumes?name=web-data');
    assert.equal(admin.size, GiB);
    assert.equal(admin.type, 'ssd');
    assert.equal(admin.iops, 100);
    assert.deepEqual(admin.labels, { app: 'web', tier: 'db' });
    assert.deepEqual(admin.schedulers, ['docker']);
    assert.equal((await post('/VolumeDriver.Create', { Name: 'web-data', Opts: { size: '1', type: 'ssd', iops: '100', labels: 'app=web,tier=db' } })).body.Err, '', 'the same create again is fine');
    const other = await post('/VolumeDriver.Create', { Name: 'other-data', Opts: { service: 'other', size: '512Mi' } });
    assert.equal(other.body.Err, '', other.text);

    const get = await post('/VolumeDriver.Get', { Name: 'web-data' });
    assert.equal(get.body.Err, '');
    assert.equal(get.body.Volume.Name, 'web-data');
    assert.equal(get.body.Volume.Mountpoint, undefined, 'not mounted yet');
    assert.equal(get.body.Volume.Status.id, admin.id);
    assert.equal(get.body.Volume.Status.sizeGiB, 1);
    assert.ok(!Number.isNaN(Date.parse(get.body.Volume.CreatedAt)));
    assert.deepEqual((await post('/VolumeDriver.Path', { Name: 'web-data' })).body, { Mountpoint: '', Err: '' });
    const list = await post('/VolumeDriver.List', {});
    assert.deepEqual(list.body.Volumes.map((v: { Name: string }) => v.Name).sort(), ['other-data', 'web-data']);

    // Two containers mount it; the volume is mounted once, attached to this node.
    const m1 = await post('/VolumeDriver.Mount', { Name: 'web-data', ID: 'container-1' });
    assert.equal(m1.body.Err, '', m1.text);
    const mp = m1.body.Mountpoint;
    assert.equal(mp, join(mountRoot, admin.id));
    assert.deepEqual(mountsUnder(mp), [mp], 'a real mount');
    writeFileSync(join(mp, 'hello.txt'), 'persist me');
    assert.equal(readFileSync(join(server.dataDir, 'pools', 'default', 'local', 'volumes', admin.id, 'hello.txt'), 'utf8'), 'persist me', 'written into the volume');
    const attached = await api(server, 'GET', `/v1/volumes/${admin.id}`);
    assert.equal(attached.body.status, 'attached');
    assert.deepEqual(attached.body.attachments.map((a: { nodeId: string }) => a.nodeId), ['node-a']);
    const m2 = await post('/VolumeDriver.Mount', { Name: 'web-data', ID: 'container-2' });
    assert.equal(m2.body.Mountpoint, mp);
    assert.equal((await post('/VolumeDriver.Mount', { Name: 'web-data', ID: 'container-2' })).body.Mountpoint, mp, 'the same ID again');
    assert.deepEqual((await post('/VolumeDriver.Path', { Name: 'web-data' })).body, { Mountpoint: mp, Err: '' });
    assert.equal((await post('/VolumeDriver.Get', { Name: 'web-data' })).body.Volume.Mountpoint, mp);

    assert.equal((await post('/VolumeDriver.Unmount', { Name: 'web-data', ID: 'container-1' })).body.Err, '');
    assert.deepEqual(mountsUnder(mp), [mp], 'still held by container-2');
    assertErr(await post('/VolumeDriver.Remove', { Name: 'web-data' }), /FAILED_PRECONDITION: .*mounted/, 'no remove while mounted');
    assert.equal((await post('/VolumeDriver.Unmount', { Name: 'web-data', ID: 'container-2' })).body.Err, '');
    assert.deepEqual(mountsUnder(mp), [], 'the last holder unmounted it');
    assert.equal(existsSync(mp), false, 'and removed the empty mount point');
    const detached = await api(server, 'GET', `/v1/volumes/${admin.id}`);
    assert.equal(detached.body.status, 'available');
    assert.deepEqual(detached.body.attachments, []);
    assert.equal((await post('/VolumeDriver.Unmount', { Name: 'web-data', ID: 'container-2' })).body.Err, '', 'unmounting again is fine');

    // Mounting again sees the data.
    const m3 = await post('/VolumeDriver.Mount', { Name: 'web-data', ID: 'container-3' });
    assert.equal(readFileSync(join(m3.body.Mountpoint, 'hello.txt'), 'utf8'), 'persist me');
    await post('/VolumeDriver.Unmount', { Name: 'web-data', ID: 'container-3' });

    for (const name of ['web-data', 'other-data']) assert.deepEqual((await post('/VolumeDriver.Remove', { Name: name })).body, { Err: '' });
    assertErr(await post('/VolumeDriver.Get', { Name: 'web-data' }), /NOT_FOUND/, 'gone');
    assert.deepEqual(volumeDirs(server, 'default', 'local'), []);
    assert.equal(existsSync(mp) && mountsUnder(mp).length > 0, false);
  });

  it('shows only volumes created through it or offered to docker', async () => {
    const adminVol = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'admin-only', size: '1Gi' });
    assert.equal(adminVol.status, 201);
    assertErr(await post('/VolumeDriver.Get', { Name: 'admin-only' }), /NOT_FOUND/, 'invisible');
    assert.equal((await post('/VolumeDriver.List')).body.Volumes.some((v: { Name: string }) => v.Name === 'admin-only'), false);
    assertErr(await post('/VolumeDriver.Create', { Name: 'admin-only' }), /ALREADY_EXISTS/, 'the name is taken');
    await api(server, 'POST', `/v1/volumes/${adminVol.body.id}/offer`, { schedulers: ['docker'] });
    assert.equal((await post('/VolumeDriver.Get', { Name: 'admin-only' })).body.Err, '', 'offered');
    assert.equal((await api(server, 'DELETE', `/v1/volumes/${adminVol.body.id}`)).status, 200);
  });

  it('closes every front door on SIGTERM: sockets gone, spec file gone, exit 0', async () => {
    const dir = join(server.dataDir, 'other');
    const specFile = join(dir, 'polly.spec');
    const s2 = await startPollyServer({ config: { docker: { host: '127.0.0.1:0', specFile }, osb: { username: 'cf', password: 'broker-password-0123456789', host: '127.0.0.1:0' } } });
    const sock2 = (await loggedAddress(s2, 'docker plugin listening')).socket!;
    const tcp = await loggedAddress(s2, 'docker plugin listening on tcp');
    assert.equal(readFileSync(specFile, 'utf8'), `tcp://127.0.0.1:${tcp.port}\n`);
    assert.deepEqual((await pluginPost(sock2, '/Plugin.Activate')).body, { Implements: ['VolumeDriver'] });
    await s2.stop('SIGTERM');
    assert.deepEqual(await s2.exited, { code: 0, signal: null });
    assert.equal(existsSync(sock2), false, 'the plugin socket is removed');
    assert.equal(existsSync(specFile), false, 'the spec file is removed');
  });

  it('answers bad input with Err and creates nothing', async () => {
    const cases: [string, string, unknown, string | undefined, RegExp][] = [
      ['malformed JSON', '/VolumeDriver.Create', undefined, '{"Name": "x"', /INVALID_ARGUMENT/],
      ['a JSON list', '/VolumeDriver.Create', undefined, '[1]', /INVALID_ARGUMENT/],
      ['no name', '/VolumeDriver.Create', { Opts: {} }, undefined, /INVALID_ARGUMENT: Name/],
      ['path as a name', '/VolumeDriver.Create', { Name: '../../etc' }, undefined, /INVALID_ARGUMENT: Name/],
      ['huge name', '/VolumeDriver.Create', { Name: 'n'.repeat(300) }, undefined, /INVALID_ARGUMENT: Name/],
      ['unknown option', '/VolumeDriver.Create', { Name: 'x1', Opts: { colour: 'red' } }, undefined, /INVALID_ARGUMENT: Opts.colour/],
      ['bad size', '/VolumeDriver.Create', { Name: 'x2', Opts: { size: 'lots' } }, undefined, /INVALID_ARGUMENT: Opts.size/],
      ['size not a string', '/VolumeDriver.Create', { Name: 'x3', Opts: { size: 1 } }, undefined, /INVALID_ARGUMENT: Opts.size/],
      ['bad iops', '/VolumeDriver.Create', { Name: 'x4', Opts: { iops: '-5' } }, undefined, /INVALID_ARGUMENT: Opts.iops/],
      ['bad labels', '/VolumeDriver.Create', { Name: 'x5', Opts: { labels: 'novalue' } }, undefined, /INVALID_ARGUMENT: labels/],
      ['unknown service', '/VolumeDriver.Create', { Name: 'x6', Opts: { service: 'nope' } }, undefined, /NOT_FOUND/],
      ['too big', '/VolumeDriver.Create', { Name: 'x7', Opts: { size: '100' } }, undefined, /INSUFFICIENT_CAPACITY/],
      ['unknown volume', '/VolumeDriver.Mount', { Name: 'nope', ID: 'c' }, undefined, /NOT_FOUND/],
      ['mount without ID', '/VolumeDriver.Mount', { Name: 'nope' }, undefined, /INVALID_ARGUMENT: ID/],
      ['remove unknown', '/VolumeDriver.Remove', { Name: 'nope' }, undefined, /NOT_FOUND/],
      ['path unknown', '/VolumeDriver.Path', { Name: 'nope' }, undefined, /NOT_FOUND/],
    ];
    for (const [name, path, body, raw, pattern] of cases) assertErr(await post(path, body, raw), pattern, name);
    const unknown = await post('/VolumeDriver.Explode', {});
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.Err, /NOT_FOUND/);
    assert.deepEqual(await listAll(server, '/v1/volumes'), [], 'nothing half-created');
    assert.deepEqual(mountsUnder(server.dataDir), []);
  });
});
