/**
 * libStorage front door end to end, against a real `polly server` over real sockets:
 *   - the traffic of a real REX-Ray 0.12 client (specs/libstorage/observed-rexray-0.12.md) replayed
 *     with its exact headers and bodies: services, the instance seed, create (201), list keyed by
 *     id, attachments bitmask, remove (204), Libstorage-Servername and the transaction headers;
 *   - the blueprint's other routes: inspect, attach/detach with the instance id, detach all,
 *     snapshot, volume from snapshot, volume copy, snapshot copy, forced remove, snapshots by service;
 *   - Polly's 2016 rule: a libStorage service sees only volumes offered to it or created through it;
 *   - JWT HS256 bearer auth per service (401 in libStorage's error shape without a valid token);
 *   - bad input: malformed bodies, unknown services and fields, huge names, bad headers → 4xx in the
 *     libStorage error shape, nothing half-created.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { libstorageUrl, loggedAddress, unixRequest } from './support/front-doors.js';
import { GiB, listAll, storeDump } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, tempDir, type ApiResponse, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };
const SECRET = 'libstorage-secret-0123456789';

after(cleanup);

/** The libStorage error shape of the blueprint. */
function assertLsError(res: ApiResponse, status: number, type: string, context = ''): void {
  assert.equal(res.status, status, `${context}: ${res.status} ${res.text}`);
  assert.equal(res.body.type, type, `${context}: ${res.text}`);
  assert.equal(res.body.httpStatus, status, context);
  assert.equal(typeof res.body.message, 'string', context);
  assert.ok(res.body.message.length > 0, context);
}

const token = (secret: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: 'akutz', ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setNotBefore('0s').sign(new TextEncoder().encode(secret));

describe('libStorage API', LONG, () => {
  let server: RunningServer;
  let ls: string;
  const TX = { 'Libstorage-Tx': 'txID=0b5e6c1a-7f0e-4d8c-9a57-1c2d3e4f5a6b, txCR=1461644872' };
  const vm = { 'Libstorage-Instanceid': 'vfs:vfs=vm' };

  before(async () => {
    server = await startPollyServer({
      config: {
        server: { nodeId: 'polly-test' },
        services: { default: { driver: 'dir' }, other: { driver: 'dir', pools: [{ name: 'small', capacity: '4Gi' }] } },
        libstorage: {
          host: '127.0.0.1:0',
          services: {
            vfs: { service: 'default' },
            mesos: { service: 'default' },
            locked: { service: 'other', jwtSecret: SECRET },
          },
        },
      },
    });
    ls = await libstorageUrl(server);
  });

  it('answers a REX-Ray 0.12 client as a libStorage server does', async () => {
    const root = await api(ls, 'GET', '/');
    assert.deepEqual(root.body, ['/services', '/volumes', '/snapshots']);

    // Every command starts with GET /services and the instance seed.
    const services = await api(ls, 'GET', '/services', undefined, { ...TX, authorization: `Bearer ${await token(SECRET)}` });
    assert.equal(services.status, 200, services.text);
    assert.deepEqual(services.body.vfs, { name: 'vfs', driver: { name: 'vfs', type: 'object', nextDevice: { ignore: true, prefix: '', pattern: '' } } });
    assert.equal(services.headers.get('libstorage-servername'), 'polly-test');
    assert.equal(services.headers.get('libstorage-txid'), '0b5e6c1a-7f0e-4d8c-9a57-1c2d3e4f5a6b');
    assert.equal(services.headers.get('libstorage-txcr'), '1461644872');

    const inst = await api(ls, 'GET', '/services/vfs?instance', undefined, { ...TX, 'Libstorage-Instanceid': 'vfs=,,InZtIg==' });
    assert.equal(inst.status, 200, inst.text);
    assert.deepEqual(inst.body, {
      name: 'vfs', instance: { instanceID: { id: 'vm', driver: 'vfs', service: '' }, name: 'vfsInstance', providerName: '' },
      driver: { name: 'vfs', type: 'object', nextDevice: { ignore: true, prefix: '', pattern: '' } },
    });
    assert.equal(inst.headers.get('libstorage-instanceid'), 'vfs:vfs=vm');

    // rexray volume create probevol --size 1
    const created = await api(ls, 'POST', '/volumes/vfs', { name: 'probevol', availabilityZone: '', encrypted: false, iops: 0, size: 1, type: '' }, {
      ...TX, ...vm, 'Libstorage-Localdevices': 'vfs=/dev/xvda::,/dev/xvdb::,/dev/xvdc::,/dev/xvdd::',
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(Object.keys(created.body), ['attachmentState', 'name', 'size', 'id', 'type']);
    assert.equal(created.body.attachmentState, 3);
    assert.equal(created.body.name, 'probevol');
    assert.equal(created.body.size, 1);
    assert.equal(created.body.type, '');
    const id: string = created.body.id;
    assert.equal(created.headers.get('location'), `/volumes/vfs/${id}`);
    const admin = await api(server, 'GET', `/v1/volumes/${id}`);
    assert.equal(admin.body.size, GiB, 'size is GiB on the wire');
    assert.deepEqual(admin.body.schedulers, ['vfs'], 'a volume created through libStorage is offered to that service');

    // rexray volume ls
    const listed = await api(ls, 'GET', '/volumes/vfs?attachments=1', undefined, { ...TX, ...vm });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, { [id]: { attachmentState: 3, name: 'probevol', size: 1, id, type: '' } });
    const plain = await api(ls, 'GET', '/volumes/vfs?attachments=0', undefined, TX);
    assert.deepEqual(plain.body, { [id]: { name: 'probevol', size: 1, id, type: '' } });

    // rexray volume rm probevol
    const removed = await api(ls, 'DELETE', `/volumes/vfs/${id}`, undefined, { ...TX, ...vm });
    assert.equal(removed.status, 204);
    assert.equal(removed.text, '');
    assert.deepEqual((await api(ls, 'GET', '/volumes/vfs?attachments=1', undefined, vm)).body, {});
    assert.equal((await api(server, 'GET', `/v1/volumes/${id}`)).status, 404);
  });

  it('shows a service only the volumes offered to it or created through it', async () => {
    const mine = await api(ls, 'POST', '/volumes/vfs', { name: 'only-vfs', size: 1 });
    assert.equal(mine.status, 201);
    const theirs = await api(ls, 'GET', `/volumes/mesos/${mine.body.id}`);
    assertLsError(theirs, 404, 'resourceNotFound', 'another service cannot inspect it');
    assert.deepEqual((await api(ls, 'GET', '/volumes/mesos')).body, {});
    assertLsError(await api(ls, 'DELETE', `/volumes/mesos/${mine.body.id}`), 404, 'resourceNotFound', 'nor delete it');

    // An admin's volume is invisible until offered to the service.
    const adminVol = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'admin-made', size: '1Gi' });
    assert.equal(adminVol.status, 201, adminVol.text);
    assert.equal((await api(ls, 'GET', `/volumes/mesos/${adminVol.body.id}`)).status, 404);
    assert.equal((await api(server, 'POST', `/v1/volumes/${adminVol.body.id}/offer`, { schedulers: ['mesos'] })).status, 200);
    const seen = await api(ls, 'GET', `/volumes/mesos/${adminVol.body.id}`);
    assert.equal(seen.status, 200, seen.text);
    assert.equal(seen.body.name, 'admin-made');
    const all = await api(ls, 'GET', '/volumes', undefined, { authorization: `Bearer ${await token(SECRET)}` });
    assert.deepEqual(Object.keys(all.body.mesos), [adminVol.body.id]);
    assert.deepEqual(Object.keys(all.body.vfs), [mine.body.id]);
    assert.deepEqual(all.body.locked, {});
  });

  it('attaches to the requesting instance, detaches, snapshots, copies and removes by force', async () => {
    const v = (await api(ls, 'POST', '/volumes/vfs', { name: 'att', size: 2, opts: { owner: 'ops' } }, vm)).body;
    assert.deepEqual(v.fields, { owner: 'ops' }, 'opts become the volume fields');
    assertLsError(await api(ls, 'POST', `/volumes/vfs/${v.id}?attach`, { nextDeviceName: '/dev/xvdb' }), 400, 'invalidRequest', 'attach needs an instance id');
    const att = await api(ls, 'POST', `/volumes/vfs/${v.id}?attach`, { nextDeviceName: '/dev/xvdb' }, vm);
    assert.equal(att.status, 200, att.text);
    assert.equal(att.body.volume.attachmentState, 2);
    assert.equal(att.body.attachToken, '');
    assert.deepEqual(att.body.volume.attachments, [{ deviceName: '', instanceID: { id: 'vm' }, status: 'attached', volumeID: v.id }]);
    const elsewhere = await api(ls, 'GET', `/volumes/vfs/${v.id}`, undefined, { 'Libstorage-Instanceid': 'vfs=other-host' });
    assert.equal(elsewhere.body.attachmentState, 4);
    const mineOnly = await api(ls, 'GET', '/volumes/vfs?attachments=10', undefined, vm);
    assert.deepEqual(Object.keys(mineOnly.body), [v.id], 'mask 2|8: attached to me');
    const devices = await api(ls, 'GET', '/volumes/vfs?attachments=5', undefined, { ...vm, 'Libstorage-Localdevices': `vfs=${v.id}::/dev/xvdb` });
    assert.equal(devices.body[v.id].attachments[0].deviceName, '/dev/xvdb', 'mask 1|4 maps local devices');
    assert.deepEqual(Object.keys((await api(ls, 'GET', '/volumes/vfs?attachments=16', undefined, vm)).body).includes(v.id), false);

    assertLsError(await api(ls, 'DELETE', `/volumes/vfs/${v.id}`), 409, 'conflict', 'an attached volume is not removed');
    const det = await api(ls, 'POST', `/volumes/vfs/${v.id}?detach`, {}, vm);
    assert.equal(det.status, 200, det.text);
    assert.equal(det.body.attachmentState, 3);

    const snap = await api(ls, 'POST', `/volumes/vfs/${v.id}?snapshot`, { snapshotName: 'att-snap' });
    assert.equal(snap.status, 200, snap.text);
    assert.equal(snap.body.name, 'att-snap');
    assert.equal(snap.body.volumeID, v.id);
    assert.equal(snap.body.volumeSize, 2);
    assert.equal(typeof snap.body.startTime, 'number');
    const snaps = await api(ls, 'GET', '/snapshots/vfs');
    assert.deepEqual(Object.keys(snaps.body), [snap.body.id]);
    assert.equal((await api(ls, 'GET', `/snapshots/vfs/${snap.body.id}`)).body.id, snap.body.id);
    assert.deepEqual((await api(ls, 'GET', '/snapshots/mesos')).body, {}, 'snapshots of invisible volumes are invisible');
    const fromSnap = await api(ls, 'POST', `/snapshots/vfs/${snap.body.id}?create`, { volumeName: 'from-snap' });
    assert.equal(fromSnap.status, 200, fromSnap.text);
    assert.equal(fromSnap.body.size, 2);
    assertLsError(await api(ls, 'POST', '/snapshots/vfs', { snapshotName: 'x' }), 400, 'invalidRequest', 'snapshots are made from volumes');
    const copy = await api(ls, 'POST', `/volumes/vfs/${v.id}?copy`, { volumeName: 'att-copy' });
    assert.equal(copy.status, 200, copy.text);
    assert.equal(copy.body.name, 'att-copy');

    // A snapshot copy: another snapshot of the same volume, independent of the original.
    const snapCopy = await api(ls, 'POST', `/snapshots/vfs/${snap.body.id}?copy`, { snapshotName: 'att-snap-copy' });
    assert.equal(snapCopy.status, 200, snapCopy.text);
    assert.equal(snapCopy.body.name, 'att-snap-copy');
    assert.notEqual(snapCopy.body.id, snap.body.id);
    assert.equal(snapCopy.body.volumeID, v.id);
    assert.equal(snapCopy.body.volumeSize, 2);
    assert.equal((await api(ls, 'POST', `/snapshots/vfs/${snap.body.id}?copy`, { snapshotName: 'att-snap-copy' })).body.id, snapCopy.body.id, 'repeating the copy returns it');
    assertLsError(await api(ls, 'POST', `/snapshots/vfs/${snap.body.id}?copy`, { snapshotName: 'elsewhere', destinationID: 'us-west-2' }), 400, 'invalidRequest', 'no copies to other regions');
    const volumesNow = await api(ls, 'GET', '/volumes/vfs');
    assert.ok(!Object.values(volumesNow.body as Record<string, { name: string }>).some((x) => x.name.startsWith('snapcopy-')), 'the transient volume is gone');
    const fromCopy = await api(ls, 'POST', `/snapshots/vfs/${snapCopy.body.id}?create`, { volumeName: 'from-snap-copy' });
    assert.equal(fromCopy.status, 200, fromCopy.text);
    assert.equal((await api(ls, 'DELETE', `/snapshots/vfs/${snapCopy.body.id}`)).status, 204);

    // Detach all of an instance, then a forced remove of an attached volume.
    await api(ls, 'POST', `/volumes/vfs/${copy.body.id}?attach`, {}, vm);
    const detachAll = await api(ls, 'POST', '/volumes/vfs?detach', {}, vm);
    assert.deepEqual(Object.keys(detachAll.body), [copy.body.id]);
    await api(ls, 'POST', `/volumes/vfs/${copy.body.id}?attach`, {}, vm);
    assert.equal((await api(ls, 'DELETE', `/volumes/vfs/${copy.body.id}?force`)).status, 204);
    assert.equal((await api(ls, 'DELETE', `/snapshots/vfs/${snap.body.id}`)).status, 204);
    assert.deepEqual((await api(ls, 'GET', '/snapshots/vfs')).body, {});
    assert.deepEqual((await api(ls, 'GET', '/tasks')).body, {});
  });

  it('requires a valid HS256 bearer token for a service with a secret', async () => {
    assertLsError(await api(ls, 'GET', '/volumes/locked'), 401, 'unauthorizedRequest', 'no token');
    assertLsError(await api(ls, 'GET', '/volumes/locked', undefined, { authorization: `Bearer ${await token('another-secret-0123456789')}` }), 401, 'unauthorizedRequest', 'wrong secret');
    assertLsError(await api(ls, 'GET', '/volumes/locked', undefined, { authorization: 'Bearer not.a.jwt' }), 401, 'unauthorizedRequest', 'garbage');
    const expired = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(SECRET));
    assertLsError(await api(ls, 'GET', '/volumes/locked', undefined, { authorization: `Bearer ${expired}` }), 401, 'unauthorizedRequest', 'expired');
    assertLsError(await api(ls, 'GET', '/volumes'), 401, 'unauthorizedRequest', 'GET /volumes is all or nothing');
    assertLsError(await api(ls, 'GET', '/services'), 401, 'unauthorizedRequest', 'GET /services too');

    const good = { authorization: `Bearer ${await token(SECRET)}` };
    const created = await api(ls, 'POST', '/volumes/locked', { name: 'secured', size: 1 }, good);
    assert.equal(created.status, 201, created.text);
    const never = { authorization: `Bearer ${await token(SECRET, { exp: 0 })}` };
    assert.deepEqual(Object.keys((await api(ls, 'GET', '/volumes/locked', undefined, never)).body), [created.body.id], 'exp 0 never expires');
    assert.equal((await api(ls, 'GET', '/volumes/vfs')).status, 200, 'services without a secret stay open');
  });

  it('turns bad input into libStorage errors and creates nothing', async () => {
    const before = [...(await storeDump(server)).keys()].filter((k) => k.startsWith('volume'));
    const cases: [string, string, string, unknown, Record<string, string>, number, string][] = [
      ['malformed JSON', 'POST', '/volumes/vfs', '{"name": "x"', {}, 400, 'invalidRequest'],
      ['JSON array', 'POST', '/volumes/vfs', [1, 2], {}, 400, 'invalidRequest'],
      ['unknown service', 'POST', '/volumes/nope', { name: 'x', size: 1 }, {}, 404, 'resourceNotFound'],
      ['unknown service (inspect)', 'GET', '/services/nope', undefined, {}, 404, 'resourceNotFound'],
      ['huge name', 'POST', '/volumes/vfs', { name: 'n'.repeat(129), size: 1 }, {}, 400, 'invalidRequest'],
      ['path in a name', 'POST', '/volumes/vfs', { name: '../../etc', size: 1 }, {}, 400, 'invalidRequest'],
      ['negative size', 'POST', '/volumes/vfs', { name: 'neg', size: -1 }, {}, 400, 'invalidRequest'],
      ['size as text', 'POST', '/volumes/vfs', { name: 'txt', size: '1' }, {}, 400, 'invalidRequest'],
      ['absurd size', 'POST', '/volumes/vfs', { name: 'huge', size: 1e12 }, {}, 400, 'invalidRequest'],
      ['unknown field', 'POST', '/volumes/vfs', { name: 'f', size: 1, color: 'red' }, {}, 400, 'invalidRequest'],
      ['no name', 'POST', '/volumes/vfs', { size: 1 }, {}, 400, 'invalidRequest'],
      ['encryption', 'POST', '/volumes/vfs', { name: 'enc', size: 1, encrypted: true }, {}, 400, 'invalidRequest'],
      ['unknown create query', 'POST', '/volumes/vfs?explode', { name: 'q', size: 1 }, {}, 400, 'invalidRequest'],
      ['no capacity', 'POST', '/volumes/locked', { name: 'big', size: 100 }, {}, 401, 'unauthorizedRequest'],
      ['bad mask', 'GET', '/volumes/vfs?attachments=99', undefined, {}, 400, 'invalidRequest'],
      ['mask 2 without instance', 'GET', '/volumes/vfs?attachments=2', undefined, {}, 400, 'invalidRequest'],
      ['bad instance header', 'GET', '/volumes/vfs', undefined, { 'Libstorage-Instanceid': 'garbage' }, 400, 'invalidRequest'],
      ['instance id with a path', 'GET', '/volumes/vfs?attachments=2', undefined, { 'Libstorage-Instanceid': 'vfs=../../x' }, 400, 'invalidRequest'],
      ['bad metadata seed', 'GET', '/services/vfs?instance', undefined, { 'Libstorage-Instanceid': 'vfs=,,%%%' }, 400, 'invalidRequest'],
      ['no operation flag', 'POST', '/volumes/vfs/vol-x', {}, {}, 400, 'invalidRequest'],
      ['two operation flags', 'POST', '/volumes/vfs/vol-x?attach&detach', {}, vm, 400, 'invalidRequest'],
      ['unknown volume', 'GET', '/volumes/vfs/vol-nope', undefined, {}, 404, 'resourceNotFound'],
      ['unknown snapshot', 'GET', '/snapshots/vfs/snap-nope', undefined, {}, 404, 'resourceNotFound'],
      ['no route', 'GET', '/nothing', undefined, {}, 404, 'resourceNotFound'],
      ['huge service name', 'GET', `/volumes/${'s'.repeat(300)}`, undefined, {}, 414, 'invalidRequest'],
    ];
    for (const [name, method, path, body, headers, status, type] of cases) {
      assertLsError(await api(ls, method, path, body, headers), status, type, name);
    }
    const v = (await api(ls, 'POST', '/volumes/vfs', { name: 'flags', size: 1 })).body;
    assertLsError(await api(ls, 'POST', `/volumes/vfs/${v.id}?snapshot`, { volumeName: 'x' }), 400, 'invalidRequest', 'a copy body on ?snapshot');
    assertLsError(await api(ls, 'POST', `/volumes/vfs/${v.id}?copy`, { volumeName: 'n'.repeat(200) }), 400, 'invalidRequest', 'huge copy name');
    assert.equal((await api(ls, 'DELETE', `/volumes/vfs/${v.id}`)).status, 204);
    const after = [...(await storeDump(server)).keys()].filter((k) => k.startsWith('volume'));
    assert.deepEqual(after, before, 'nothing half-created');
    const names = (await listAll(server, '/v1/volumes')).map((x: { name: string }) => x.name);
    for (const n of ['neg', 'txt', 'huge', 'f', 'enc', 'q', 'big']) assert.equal(names.includes(n), false, n);
  });
});

describe('libStorage over TLS and a unix socket', LONG, () => {
  it('serves HTTPS with libstorage.tls', async () => {
    const dir = tempDir('ls-tls');
    const cert = join(dir, 'ls.crt');
    const key = join(dir, 'ls.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const server = await startPollyServer({ config: { libstorage: { host: '127.0.0.1:0', tls: { cert, key } } } });
    const port = Number(new URL(await libstorageUrl(server)).port);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/services', method: 'GET', ca: readFileSync(cert) }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(answer.status, 200, answer.body);
    assert.equal(JSON.parse(answer.body).default.driver.name, 'vfs');
    await assert.rejects(fetch(`http://127.0.0.1:${port}/services`), 'plain HTTP is not served');
    await server.stop();
  });

  it('listens on a unix socket given as unix:///path', async () => {
    const dir = tempDir('ls-sock');
    const sock = join(dir, 'ls.sock');
    const server = await startPollyServer({ config: { libstorage: { host: `unix://${sock}` } } });
    assert.equal((await loggedAddress(server, 'libstorage listening')).socket, sock);
    const created = await unixRequest(sock, 'POST', '/volumes/default', JSON.stringify({ name: 'over-socket', size: 1 }));
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.name, 'over-socket');
    await server.stop();
  });
});
