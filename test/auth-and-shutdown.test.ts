/**
 * Auth, start-up refusal, graceful shutdown and idempotency end to end (issue 2, items 1 and 8),
 * against real server processes:
 *   - bearer tokens: no/bad token → 401; a scheduler sees and touches only volumes it created or
 *     that were offered to it, in the services it may use (404 for the rest, never a leak; 403 for
 *     admin-only actions and other services), on /v1 and on the 2016 /admin routes alike;
 *   - listening off loopback without tokens stops start-up with a message about tokens;
 *   - SIGTERM lets an in-flight request finish (201) and the process exit 0;
 *   - Idempotency-Key retries return the same volume; reusing a key with another body is a 409.
 */
import assert from 'node:assert/strict';
import { openSync, closeSync, writeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MiB, assertEnvelope, listDir, poolDir } from './support/polly-fixtures.js';
import {
  api, bearer, childEnv, cleanup, freePort, launchPolly, startPollyServer, tempDir, type ApiResponse, type RunningServer,
} from './support/server-process.js';

const LONG = { timeout: 120_000 };

const ADMIN = 'admin-token-0123456789abcdef';
const SCHED = 'sched1-token-0123456789abcdef';
const SCHED2 = 'sched2-token-0123456789abcdef';

after(cleanup);

const authConfig = {
  auth: {
    tokens: [
      { name: 'admin', token: ADMIN, role: 'admin' },
      { name: 'sched1', token: SCHED, role: 'scheduler', services: ['default'] },
      { name: 'sched2', token: SCHED2, role: 'scheduler', services: ['default', 'other'] },
    ],
  },
  services: { default: { driver: 'dir' }, other: { driver: 'dir' } },
};

describe('bearer tokens and what a scheduler may see', LONG, () => {
  let server: RunningServer;
  const as = (token: string | undefined) => (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    api(server, method, path, body, { ...bearer(token), ...headers });
  const admin = as(ADMIN);
  const sched = as(SCHED);
  const sched2 = as(SCHED2);
  let adminVol: any; // created by the admin, not offered
  let schedVol: any; // created by sched1

  function expectError(res: ApiResponse, status: number, code: string, what: string): void {
    assert.equal(res.status, status, `${what}: ${res.status} ${res.text}`);
    assert.equal(assertEnvelope(res, what).code, code, `${what}: ${res.text}`);
  }

  before(async () => {
    server = await startPollyServer({ config: authConfig });
    const a = await admin('POST', '/v1/volumes', { service: 'default', name: 'admin-vol', size: '1Mi', labels: { secret: 'yes' } });
    assert.equal(a.status, 201, a.text);
    adminVol = a.body;
  });
  after(async () => server?.stop());

  it('no token → 401, a bad token → 401 (on /v1 and on the 2016 routes); the probes stay open', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/volumes'], ['POST', '/v1/volumes', { service: 'default', name: 'x1', size: '1Mi' }], ['GET', `/v1/volumes/${adminVol.id}`],
      ['GET', '/v1/services'], ['GET', '/v1/store'], ['GET', '/admin/volumes'], ['GET', `/admin/volumes/${adminVol.id}`],
      ['POST', '/admin/volumes', { service: 'default', name: 'x2', size: 1 }], ['DELETE', `/admin/volumes/${adminVol.id}`],
    ] as const) {
      expectError(await as(undefined)(method, path, body), 401, 'UNAUTHENTICATED', `${method} ${path} without a token`);
      expectError(await as('not-a-valid-token-at-all')(method, path, body), 401, 'UNAUTHENTICATED', `${method} ${path} with a bad token`);
      expectError(await api(server, method, path, body, { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` }), 401, 'UNAUTHENTICATED', `${method} ${path} with Basic auth`);
      expectError(await as(`${ADMIN}x`)(method, path, body), 401, 'UNAUTHENTICATED', `${method} ${path} with a longer token`);
    }
    assert.equal((await api(server, 'GET', '/healthz')).status, 200);
    assert.equal((await api(server, 'GET', '/readyz')).status, 200);
    // nothing was created by the refused requests
    const names = ((await admin('GET', '/v1/volumes')).body.items as any[]).map((v) => v.name);
    assert.deepEqual(names, ['admin-vol']);
  });

  it('a scheduler creates a volume in its service and sees it', async () => {
    const res = await sched('POST', '/v1/volumes', { service: 'default', name: 'sched-vol', size: '1Mi' });
    assert.equal(res.status, 201, res.text);
    schedVol = res.body;
    assert.equal(schedVol.createdBy, 'sched1');
    assert.equal((await sched('GET', `/v1/volumes/${schedVol.id}`)).status, 200);
    const listed = await sched('GET', '/v1/volumes');
    assert.deepEqual((listed.body.items as any[]).map((v) => v.id), [schedVol.id], 'it lists only its own volume');
    const legacy = await sched('GET', '/admin/volumes');
    assert.equal(legacy.status, 200);
    assert.deepEqual((legacy.body as any[]).map((v) => v.id ?? v.volumeid), [schedVol.id]);
    assert.equal((await sched('GET', `/admin/volumes/${schedVol.id}`)).status, 200);
  });

  it('a volume neither created by it nor offered to it is 404 for a scheduler (never 403, never a leak)', async () => {
    const id = adminVol.id as string;
    for (const [method, path, body] of [
      ['GET', `/v1/volumes/${id}`], ['DELETE', `/v1/volumes/${id}`], ['POST', `/v1/volumes/${id}/snapshots`, { name: 's1' }],
      ['POST', `/v1/volumes/${id}/attachments`, { nodeId: 'node-1' }], ['DELETE', `/v1/volumes/${id}/attachments/node-1`],
      ['GET', `/admin/volumes/${id}`], ['DELETE', `/admin/volumes/${id}`],
    ] as const) {
      const res = await sched(method, path, body);
      expectError(res, 404, 'NOT_FOUND', `sched1 ${method} ${path}`);
      assert.ok(!res.text.includes('secret'), `no detail of the volume leaks: ${res.text}`);
    }
    const missing = await sched('GET', '/v1/volumes/vol-does-not-exist');
    expectError(missing, 404, 'NOT_FOUND', 'an id that does not exist');
    assert.equal(
      (await sched('GET', `/v1/volumes/${id}`)).text.replaceAll(id, 'ID'),
      missing.text.replaceAll('vol-does-not-exist', 'ID'),
      'a hidden volume and a missing one answer alike',
    );
    for (const path of ['/v1/volumes', `/v1/volumes?name=admin-vol`, '/v1/volumes?label=secret%3Dyes', '/admin/volumes', '/admin/volumesall']) {
      const res = await sched('GET', path);
      assert.equal(res.status, 200, res.text);
      assert.ok(!res.text.includes(id), `${path} does not list the admin's volume`);
    }
    const snaps = await sched('GET', `/v1/snapshots?volume=${id}`);
    assert.ok(snaps.status === 200 || snaps.status === 404, snaps.text);
    if (snaps.status === 200) assert.deepEqual(snaps.body.items, []);
    // the admin volume is untouched
    const still = await admin('GET', `/v1/volumes/${id}`);
    assert.equal(still.status, 200);
    assert.equal(still.body.status, 'available');
  });

  it('creating the name of a volume it may not see does not hand that volume to the scheduler', async () => {
    const same = await sched('POST', '/v1/volumes', { service: 'default', name: 'admin-vol', size: '1Mi' });
    assert.ok(!same.text.includes(adminVol.id), `the hidden volume must not be returned: ${same.status} ${same.text}`);
    assert.ok(same.status === 409 || same.status === 403, `a conflict (or forbidden), not ${same.status}: ${same.text}`);
    assertEnvelope(same);
    const legacy = await sched('POST', '/admin/volumes', { service: 'default', name: 'admin-vol', size: 1 });
    assert.ok(!legacy.text.includes(adminVol.id), `2016 route: the hidden volume must not be returned: ${legacy.status} ${legacy.text}`);
    assert.ok(legacy.status >= 400 && legacy.status < 500, legacy.text);
  });

  it('a scheduler may not offer, revoke or label (403), not even its own volume', async () => {
    for (const id of [schedVol.id as string]) {
      expectError(await sched('POST', `/v1/volumes/${id}/offer`, { schedulers: ['sched2'] }), 403, 'FORBIDDEN', 'offer');
      expectError(await sched('POST', `/v1/volumes/${id}/revoke`, { schedulers: ['sched1'] }), 403, 'FORBIDDEN', 'revoke');
      expectError(await sched('POST', `/v1/volumes/${id}/labels`, { set: { a: 'b' } }), 403, 'FORBIDDEN', 'label');
      expectError(await sched('POST', '/admin/volumeoffer', { volumeID: id, schedulers: ['sched2'] }), 403, 'FORBIDDEN', '2016 offer');
      expectError(await sched('POST', '/admin/volumeofferrevoke', { volumeID: id, schedulers: ['sched1'] }), 403, 'FORBIDDEN', '2016 revoke');
      expectError(await sched('POST', '/admin/volumelabel', { volumeID: id, labels: { a: 'b' } }), 403, 'FORBIDDEN', '2016 label');
      expectError(await sched('POST', '/admin/volumelabelsremove', { volumeID: id, labels: ['a'] }), 403, 'FORBIDDEN', '2016 label remove');
    }
    // admin-only surfaces
    expectError(await sched('GET', '/v1/store'), 403, 'FORBIDDEN', 'store');
    expectError(await sched('POST', '/v1/store/erase', { confirm: true }), 403, 'FORBIDDEN', 'erase');
    expectError(await sched('GET', '/v1/reconcile'), 403, 'FORBIDDEN', 'reconcile');
    expectError(await sched('GET', '/v1/unmanaged'), 403, 'FORBIDDEN', 'unmanaged');
    expectError(await sched('POST', '/v1/unmanaged/adopt', { service: 'default', pool: 'local', backendId: 'x', name: 'y' }), 403, 'FORBIDDEN', 'adopt');
    const v = await admin('GET', `/v1/volumes/${schedVol.id}`);
    assert.deepEqual(v.body.labels, {});
    assert.deepEqual(v.body.schedulers, []);
    assert.equal((await admin('GET', '/v1/store')).status, 200, 'the admin can');
  });

  it('a scheduler may not use another service (403), on /v1 and on the 2016 routes', async () => {
    expectError(await sched('POST', '/v1/volumes', { service: 'other', name: 'o1', size: '1Mi' }), 403, 'FORBIDDEN', 'create in other');
    expectError(await sched('POST', '/admin/volumes', { service: 'other', name: 'o2', size: 1 }), 403, 'FORBIDDEN', '2016 create in other');
    const listed = await sched('GET', '/v1/volumes?service=other');
    assert.ok(listed.status === 403 || (listed.status === 200 && listed.body.items.length === 0), listed.text);
    // sched2 may, and sched1 cannot see what sched2 made there
    const o = await sched2('POST', '/v1/volumes', { service: 'other', name: 'o3', size: '1Mi' });
    assert.equal(o.status, 201, o.text);
    expectError(await sched('GET', `/v1/volumes/${o.body.id}`), 404, 'NOT_FOUND', 'sched1 reading sched2 volume');
    expectError(await sched2('GET', `/v1/volumes/${schedVol.id}`), 404, 'NOT_FOUND', 'sched2 reading sched1 volume');
    const admins = await admin('GET', '/v1/volumes?service=other');
    assert.deepEqual((admins.body.items as any[]).map((v) => v.name), ['o3']);
  });

  it('once offered, the volume is visible to that scheduler (and only to it); revoked, it is hidden again', async () => {
    const id = adminVol.id as string;
    const offered = await admin('POST', `/v1/volumes/${id}/offer`, { schedulers: ['sched1'] });
    assert.equal(offered.status, 200, offered.text);
    assert.equal((await sched('GET', `/v1/volumes/${id}`)).status, 200);
    assert.ok(((await sched('GET', '/v1/volumes')).body.items as any[]).some((v) => v.id === id));
    assert.ok(((await sched('GET', '/admin/volumes')).body as any[]).some((v) => (v.id ?? v.volumeid) === id), '2016 list too');
    assert.equal((await sched('GET', `/admin/volumes/${id}`)).status, 200);
    expectError(await sched2('GET', `/v1/volumes/${id}`), 404, 'NOT_FOUND', 'sched2 still cannot see it');
    // still no labelling or offering for the scheduler
    expectError(await sched('POST', `/v1/volumes/${id}/labels`, { set: { a: 'b' } }), 403, 'FORBIDDEN', 'label an offered volume');
    expectError(await sched('POST', `/v1/volumes/${id}/offer`, { schedulers: ['sched2'] }), 403, 'FORBIDDEN', 'offer an offered volume');

    // revoke through the 2016 route
    const revoked = await admin('POST', '/admin/volumeofferrevoke', { volumeID: id, schedulers: ['sched1'] });
    assert.equal(revoked.status, 200, revoked.text);
    expectError(await sched('GET', `/v1/volumes/${id}`), 404, 'NOT_FOUND', 'revoked');
    // offer through the 2016 route
    const again = await admin('POST', '/admin/volumeoffer', { volumeID: id, schedulers: ['sched1'] });
    assert.equal(again.status, 200, again.text);
    assert.equal((await sched('GET', `/admin/volumes/${id}`)).status, 200);
  });

  it('Idempotency-Key is per caller: another caller reusing it gets its own volume, never the first one', async () => {
    const key = 'shared-key-1';
    const a = await admin('POST', '/v1/volumes', { service: 'default', name: 'idem-admin', size: '1Mi' }, { 'idempotency-key': key });
    assert.equal(a.status, 201, a.text);
    const s = await sched('POST', '/v1/volumes', { service: 'default', name: 'idem-sched', size: '1Mi' }, { 'idempotency-key': key });
    assert.equal(s.status, 201, s.text);
    assert.notEqual(s.body.id, a.body.id);
    assert.equal(s.body.name, 'idem-sched');
  });
});

describe('start-up refuses a non-loopback listener without tokens', LONG, () => {
  it('--host 0.0.0.0:PORT without tokens → exits non-zero, saying tokens are needed', LONG, async () => {
    const dataDir = tempDir('open');
    const port = await freePort();
    const p = launchPolly(['server', '--data-dir', dataDir, '--host', `0.0.0.0:${port}`], childEnv());
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
    const exit = await p.exited;
    clearTimeout(timer);
    assert.notEqual(exit.signal, 'SIGKILL', `the server kept running instead of refusing:\n${p.stderr()}${p.stdout()}`);
    assert.notEqual(exit.code, 0, `exit code: ${p.stderr()}`);
    const out = `${p.stderr()}\n${p.stdout()}`;
    assert.match(out, /token/i, `the message mentions tokens: ${out}`);
    assert.match(out, /0\.0\.0\.0/, `the message names the address: ${out}`);
    assert.ok(!/\n\s+at .+:\d+:\d+/.test(p.stderr()), `no stack trace: ${p.stderr()}`);
    // nothing listens on the port
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }));
  });

  it('the same listener starts with a token (POLLY_ADMIN_TOKEN) and then requires it', LONG, async () => {
    const server = await startPollyServer({ listenHost: '0.0.0.0', env: { POLLY_ADMIN_TOKEN: ADMIN } });
    try {
      expectStatus(await api(server, 'GET', '/v1/volumes'), 401);
      expectStatus(await api(server, 'GET', '/v1/volumes', undefined, bearer(ADMIN)), 200);
    } finally {
      await server.stop();
    }
    assert.equal((await server.exited).code, 0);
  });
});

function expectStatus(res: ApiResponse, status: number): void {
  assert.equal(res.status, status, res.text);
}

describe('graceful shutdown', LONG, () => {
  it('SIGTERM during a slow snapshot: the request completes with 201, new requests are turned away, the process exits 0', LONG, async () => {
    const server = await startPollyServer();
    const v = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'big', size: '1Gi' });
    assert.equal(v.status, 201, v.text);
    // 200 MB of real (non-sparse) data, so that the copy takes a while
    const file = join(poolDir(server, 'default', 'local'), 'volumes', v.body.id, 'data.bin');
    const fd = openSync(file, 'w');
    const chunk = Buffer.alloc(8 * MiB, 0x5a);
    for (let i = 0; i < 25; i++) writeSync(fd, chunk);
    closeSync(fd);

    const staging = join(poolDir(server, 'default', 'local'), '.staging');
    const started = Date.now();
    const snapshot = api(server, 'POST', `/v1/volumes/${v.body.id}/snapshots`, { name: 'before-shutdown' }, {}, 120_000);
    // wait until the copy is under way
    while (listDir(staging).length === 0 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 2));
    assert.ok(listDir(staging).length > 0, 'the snapshot copy started');
    process.kill(server.pid, 'SIGTERM');
    let exitedAt = 0;
    const exited = server.exited.then((e) => {
      exitedAt = Date.now();
      return e;
    });

    // a request arriving now is turned away (503) or finds nobody listening
    await new Promise((r) => setTimeout(r, 50));
    const late = await api(server, 'GET', '/v1/volumes', undefined, {}, 10_000).then((r) => r.status, (e: Error) => e.message);
    assert.ok(late === 503 || typeof late === 'string', `a new request during shutdown: ${late}`);

    const res = await snapshot;
    const answeredAt = Date.now();
    assert.equal(res.status, 201, `the in-flight snapshot completed: ${res.text}`);
    assert.equal(res.body.status, 'ready');
    // Wait well past the server's own shutdown timeout (10s) before giving up on it.
    const killer = setTimeout(() => void server.stop('SIGKILL'), 30_000);
    const exit = await exited;
    clearTimeout(killer);
    assert.equal(exit.signal, null, `the server had to be killed:\n${server.stderr()}`);
    assert.equal(exit.code, 0, `exit status 0 after SIGTERM:\n${server.stderr()}`);
    // Once the last in-flight request is answered there is nothing left to wait for: the process
    // must not sit out its shutdown timeout because the client keeps its connection alive.
    assert.ok(
      exitedAt - answeredAt < 3000,
      `the process exited ${exitedAt - answeredAt} ms after the last in-flight request was answered (server log: ${server.stdout().includes('shutdown timeout') ? 'it hit "shutdown timeout: closing connections"' : 'no timeout'})`,
    );

    // the snapshot is in the catalog and complete on disk after a restart
    const again = await startPollyServer({ dataDir: server.dataDir });
    try {
      const snap = await api(again, 'GET', `/v1/snapshots/${res.body.id}`);
      assert.equal(snap.status, 200, snap.text);
      assert.equal(snap.body.status, 'ready');
      const copy = join(poolDir(again, 'default', 'local'), 'snapshots', res.body.id, 'data.bin');
      assert.equal(statSync(copy).size, 200 * MiB);
      assert.deepEqual(listDir(staging), [], 'nothing left staged');
      const rec = await api(again, 'GET', '/v1/reconcile');
      assert.deepEqual(rec.body.last.finished, [], 'nothing needed finishing: the shutdown was clean');
      assert.deepEqual(rec.body.last.rolledBack, []);
    } finally {
      await again.stop();
    }
  });

  it('SIGINT stops an idle server with exit status 0', LONG, async () => {
    const server = await startPollyServer();
    process.kill(server.pid, 'SIGINT');
    const exit = await server.exited;
    assert.equal(exit.code, 0, server.stderr());
  });
});

describe('Idempotency-Key on POST /v1/volumes', LONG, () => {
  let server: RunningServer;
  before(async () => {
    server = await startPollyServer({ config: { services: { default: { driver: 'dir' }, other: { driver: 'dir' } } } });
  });
  after(async () => server?.stop());

  const post = (body: unknown, key: string) => api(server, 'POST', '/v1/volumes', body, { 'idempotency-key': key });

  it('a retry with the same key and body returns the same volume', async () => {
    const body = { service: 'default', name: 'idem-1', size: '8Mi', labels: { a: '1' } };
    const first = await post(body, 'key-1');
    assert.equal(first.status, 201, first.text);
    for (let i = 0; i < 3; i++) {
      const retry = await post(body, 'key-1');
      assert.ok(retry.status === 200 || retry.status === 201, retry.text);
      assert.equal(retry.body.id, first.body.id);
    }
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => post(body, 'key-1')));
    for (const r of concurrent) {
      assert.ok(r.status === 200 || (r.status === 409 && r.body.error?.code === 'IN_PROGRESS'), r.text);
      if (r.status === 200) assert.equal(r.body.id, first.body.id);
    }
    const all = await api(server, 'GET', '/v1/volumes');
    assert.equal(all.body.items.length, 1);
  });

  it('reusing a key with a different body is a 409 and creates nothing', async () => {
    const before = (await api(server, 'GET', '/v1/volumes')).body.items.length;
    const dirsBefore = listDir(join(poolDir(server, 'default', 'local'), 'volumes'));
    for (const other of [
      { service: 'default', name: 'idem-1', size: '16Mi', labels: { a: '1' } }, // another size
      { service: 'default', name: 'idem-2', size: '8Mi', labels: { a: '1' } }, // another name
      { service: 'other', name: 'idem-1', size: '8Mi', labels: { a: '1' } }, // another service
    ]) {
      const res = await post(other, 'key-1');
      assert.equal(res.status, 409, `reuse of key-1 with ${JSON.stringify(other)}: ${res.status} ${res.text}`);
      assertEnvelope(res);
    }
    assert.equal((await api(server, 'GET', '/v1/volumes')).body.items.length, before);
    assert.deepEqual(listDir(join(poolDir(server, 'default', 'local'), 'volumes')), dirsBefore);
    assert.deepEqual(listDir(join(poolDir(server, 'other', 'local'), 'volumes')), []);
  });

  it('a new key with the body of an existing volume returns that volume (same-name semantics)', async () => {
    const res = await post({ service: 'default', name: 'idem-1', size: '8Mi', labels: { a: '1' } }, 'key-2');
    assert.equal(res.status, 200, res.text);
    const first = (await api(server, 'GET', '/v1/volumes?name=idem-1')).body.items[0];
    assert.equal(res.body.id, first.id);
  });

  it('the key survives a restart', LONG, async () => {
    const body = { service: 'default', name: 'idem-3', size: '4Mi' };
    const first = await post(body, 'key-3');
    assert.equal(first.status, 201, first.text);
    await server.stop();
    server = await startPollyServer({ dataDir: server.dataDir, config: { services: { default: { driver: 'dir' }, other: { driver: 'dir' } } } });
    const retry = await post(body, 'key-3');
    assert.equal(retry.status, 200, retry.text);
    assert.equal(retry.body.id, first.body.id);
    const reuse = await post({ ...body, size: '5Mi' }, 'key-3');
    assert.equal(reuse.status, 409, reuse.text);
  });
});
