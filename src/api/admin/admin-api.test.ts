import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GiB, MiB } from '../../core/units.js';
import { harness, injectJson, poolSpec, serviceSpec, TEST_NODE_ID, TEST_VERSION, type Harness, type InjectedResponse } from './test-harness.js';

// ---------------------------------------------------------------------------------------------
// helpers

type Res = InjectedResponse;
const call = injectJson;

/** The one error envelope, with the status and code expected; returns the error. */
function assertError(res: Res, status: number, code: string, mentions?: string | RegExp) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  assert.deepEqual(Object.keys(res.body), ['error'], res.text);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'details', 'message'], res.text);
  assert.equal(res.body.error.code, code, res.text);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
  assert.equal(typeof res.body.error.details, 'object');
  assert.ok(res.body.error.details !== null && !Array.isArray(res.body.error.details));
  if (mentions !== undefined) {
    if (typeof mentions === 'string') assert.ok(res.body.error.message.includes(mentions), `"${res.body.error.message}" should mention ${mentions}`);
    else assert.match(res.body.error.message, mentions);
  }
  return res.body.error as { code: string; message: string; details: Record<string, unknown> };
}

/** A 400 whose message and details name `field` (with or without the `body.` prefix). */
function assertBadField(res: Res, field: string) {
  const e = assertError(res, 400, 'INVALID_ARGUMENT');
  const named = String(e.details['field'] ?? '');
  assert.ok(named === field || named.endsWith(`.${field}`) || named.startsWith(`${field}.`) || named.includes(`.${field}.`),
    `details.field ${JSON.stringify(named)} should name ${field}`);
  assert.ok(e.message.includes(field), `"${e.message}" should name ${field}`);
}

async function create(h: Harness, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Res> {
  return call(h, 'POST', '/v1/volumes', { service: 'default', ...body }, headers);
}

async function createOk(h: Harness, body: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await create(h, body);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

const volumeDir = (h: Harness, backendId: string, service = 'default', pool = 'local') => path.join(h.poolRoot(service, pool), 'volumes', backendId);

async function backendEntries(h: Harness, service = 'default', pool = 'local'): Promise<string[]> {
  return (await readdir(path.join(h.poolRoot(service, pool), 'volumes'))).sort();
}

async function waitForOperation(h: Harness, location: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await call(h, 'GET', location);
    assert.equal(r.status, 200, r.text);
    if (r.body.status !== 'running') return r.body;
    if (Date.now() > deadline) assert.fail(`operation ${location} still running: ${r.text}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** A describe block with its own harness, closed after the block even when tests fail. */
function withHarness(name: string, opts: Parameters<typeof harness>[0], body: (get: () => Harness) => void): void {
  describe(name, () => {
    let h: Harness | undefined;
    before(async () => {
      h = await harness(opts);
    });
    after(async () => {
      const dir = h?.dataDir;
      await h?.close();
      if (dir) assert.equal(existsSync(dir), false, 'harness removes its temp dir');
    });
    body(() => h!);
  });
}

// ---------------------------------------------------------------------------------------------

describe('test harness', () => {
  it('opens on a fresh temp dir with the default service and pool, and close() removes everything', async () => {
    const h = await harness();
    let closed = false;
    try {
      assert.ok(existsSync(h.dataDir));
      assert.ok(h.poolRoot().startsWith(h.dataDir));
      const pools = await call(h, 'GET', '/v1/pools');
      assert.deepEqual(pools.body.items.map((p: { id: string; capacityBytes: number }) => [p.id, p.capacityBytes]), [['default/local', 100 * GiB]]);
      assert.ok(h.polly.lastReconcile, 'reconciled at start');
      await h.close();
      closed = true;
      assert.equal(existsSync(h.dataDir), false);
      await h.close(); // idempotent
    } finally {
      if (!closed) await h.close();
    }
  });
});

withHarness('POST /v1/volumes', {}, (h) => {
  it('creates: 201, Location, the volume as /v1 shows it, and its directory', async () => {
    const r = await create(h(), { name: 'db1', size: '1Gi', labels: { app: 'pg' } });
    assert.equal(r.status, 201, r.text);
    assert.match(r.body.id, /^vol-[0-9a-z]{26}$/);
    assert.equal(r.headers['location'], `/v1/volumes/${r.body.id}`);
    assert.equal(r.body.name, 'db1');
    assert.equal(r.body.service, 'default');
    assert.equal(r.body.pool, 'default/local');
    assert.equal(r.body.size, GiB);
    assert.equal(r.body.status, 'available');
    assert.deepEqual(r.body.labels, { app: 'pg' });
    assert.deepEqual(r.body.attachments, []);
    assert.ok(!Number.isNaN(Date.parse(r.body.createdAt)));
    assert.ok(existsSync(volumeDir(h(), r.body.id)));
  });

  it('a same-name retry returns the same volume with 200', async () => {
    const first = await create(h(), { name: 'retry', size: '2Gi' });
    assert.equal(first.status, 201, first.text);
    const again = await create(h(), { name: 'retry', size: '2Gi' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.id, first.body.id);
    const list = await call(h(), 'GET', '/v1/volumes?service=default&name=retry');
    assert.equal(list.body.items.length, 1);
  });

  it('the same name with a different size is 409 ALREADY_EXISTS', async () => {
    await createOk(h(), { name: 'conflict', size: '1Gi' });
    assertError(await create(h(), { name: 'conflict', size: '3Gi' }), 409, 'ALREADY_EXISTS', 'conflict');
  });

  const sizes: [string, unknown, number][] = [
    ['"10Gi"', '10Gi', 10 * GiB],
    ['"512Mi"', '512Mi', 512 * MiB],
    ['a number of bytes', 1_048_576, 1_048_576],
    ['"1.5G" (decimal unit)', '1.5G', 1_500_000_000],
    ['"100B"', '100B', 100],
    ['a bare number in a string (GiB, as documented)', '2', 2 * GiB],
    ['no size (the service default)', undefined, GiB],
  ];
  for (const [what, size, bytes] of sizes) {
    it(`size ${what} → ${bytes} bytes`, async () => {
      const name = `size-${bytes}`;
      const r = await create(h(), { name, ...(size !== undefined ? { size } : {}) });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.size, bytes);
    });
  }

  it('an unknown service is 404 NOT_FOUND naming it', async () => {
    const e = assertError(await call(h(), 'POST', '/v1/volumes', { service: 'nosuch', name: 'x' }), 404, 'NOT_FOUND', 'nosuch');
    assert.equal(e.details['kind'], 'service');
  });

  const badTypes: [string, Record<string, unknown>, string][] = [
    ['size is an object', { name: 't1', size: {} }, 'size'],
    ['size is a boolean', { name: 't2', size: true }, 'size'],
    ['size is a string without a size', { name: 't3', size: 'lots' }, 'size'],
    ['size is negative', { name: 't4', size: -5 }, 'size'],
    ['name is a number', { name: 123 }, 'name'],
    ['name is an object', { name: { a: 1 } }, 'name'],
    ['labels is a string', { name: 't5', labels: 'x' }, 'labels'],
    ['a label value is a number-less object', { name: 't6', labels: { a: { b: 1 } } }, 'labels'],
    ['iops is a word', { name: 't7', iops: 'fast' }, 'iops'],
    ['zones is an object', { name: 't8', zones: { a: 1 } }, 'zones'],
    ['source is a string', { name: 't9', source: 'snap-1' }, 'source'],
  ];
  for (const [what, body, field] of badTypes) {
    it(`bad type: ${what} → 400 naming ${field}`, async () => {
      assertBadField(await create(h(), body), field);
    });
  }

  it('a missing required field is 400 naming it; an unknown field is 400 naming it', async () => {
    assertBadField(await call(h(), 'POST', '/v1/volumes', { service: 'default' }), 'name');
    assertBadField(await create(h(), { name: 'x1', colour: 'red' }), 'colour');
  });

  const badNames: [string, string][] = [
    ['path traversal', '../etc'],
    ['a slash', 'a/b'],
    ['two dots inside', 'a..b'],
    ['a newline', 'a\nb'],
    ['a NUL', 'a\u0000b'],
    ['a leading dot', '.hidden'],
    ['129 characters', 'n'.repeat(129)],
    ['empty', ''],
  ];
  for (const [what, name] of badNames) {
    it(`a name with ${what} is 400 naming "name" and leaves nothing behind`, async () => {
      const before = await backendEntries(h());
      const count = await h().store.count('volumes/');
      assertBadField(await create(h(), { name }), 'name');
      assert.deepEqual(await backendEntries(h()), before);
      assert.equal(await h().store.count('volumes/'), count);
    });
  }

  it('nothing fits: 507 INSUFFICIENT_CAPACITY listing the pool with its reason, nothing reserved', async () => {
    const e = assertError(await create(h(), { name: 'huge', size: '200Gi' }), 507, 'INSUFFICIENT_CAPACITY', 'pool default/local: needs 200Gi');
    assert.deepEqual((e.details['pools'] as { pool: string }[]).map((p) => p.pool), ['default/local']);
    const [pool] = (await call(h(), 'GET', '/v1/pools')).body.items;
    assert.equal(pool.reservedBytes, 0);
  });

  it('malformed JSON is 400 in the error envelope; a body over the limit is 413', async () => {
    assertError(await call(h(), 'POST', '/v1/volumes', '{"service":', { 'content-type': 'application/json' }), 400, 'INVALID_ARGUMENT');
    const big = JSON.stringify({ service: 'default', name: 'big', labels: { a: 'x'.repeat(2 * 1024 * 1024) } });
    assertError(await call(h(), 'POST', '/v1/volumes', big, { 'content-type': 'application/json' }), 413, 'PAYLOAD_TOO_LARGE');
  });
});

withHarness('GET /v1/volumes: filters and cursor paging', { services: [serviceSpec('default'), serviceSpec('other')] }, (h) => {
  const ids = new Map<string, string>();
  before(async () => {
    for (let i = 0; i < 25; i++) {
      const name = `v${String(i).padStart(2, '0')}`;
      const v = await createOk(h(), { name, size: '1Mi', labels: { tier: i % 2 === 0 ? 'gold' : 'silver', ...(i < 3 ? { team: 'a' } : {}) } });
      ids.set(name, v.id);
    }
    for (const name of ['o1', 'o2', 'o3']) await createOk(h(), { service: 'other', name, size: '1Mi' });
    for (const name of ['v01', 'v02']) assert.equal((await call(h(), 'POST', `/v1/volumes/${ids.get(name)}/offer`, { schedulers: ['k8s'] })).status, 200);
    assert.equal((await call(h(), 'POST', `/v1/volumes/${ids.get('v05')}/attachments`, { nodeId: 'n1' })).status, 200);
  });

  const names = (r: Res) => r.body.items.map((v: { name: string }) => v.name).sort();

  it('lists everything by default', async () => {
    const r = await call(h(), 'GET', '/v1/volumes');
    assert.equal(r.status, 200);
    assert.equal(r.body.items.length, 28);
    assert.equal(r.body.next, undefined);
  });

  it('service=', async () => assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?service=other')), ['o1', 'o2', 'o3']));
  it('service= & name= (index lookup)', async () => assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?service=default&name=v07')), ['v07']));
  it('name= alone', async () => assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?name=o2')), ['o2']));
  it('name= of nothing', async () => assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?service=default&name=nope')), []));
  it('status=', async () => {
    assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?status=attached')), ['v05']);
    assert.equal((await call(h(), 'GET', '/v1/volumes?status=available')).body.items.length, 27);
  });
  it('scheduler=', async () => assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?scheduler=k8s')), ['v01', 'v02']));
  it('label= (one, several comma-separated, repeated)', async () => {
    assert.equal((await call(h(), 'GET', '/v1/volumes?label=tier=gold')).body.items.length, 13);
    assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?label=tier=gold,team=a')), ['v00', 'v02']);
    assert.deepEqual(names(await call(h(), 'GET', '/v1/volumes?label=tier=silver&label=team=a')), ['v01']);
  });

  it('pages over 25 volumes with limit=10: 10, 10, 5, no duplicates, no gaps', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const r = await call(h(), 'GET', `/v1/volumes?service=default&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      sizes.push(r.body.items.length);
      seen.push(...r.body.items.map((v: { name: string }) => v.name));
      cursor = r.body.next;
    } while (cursor);
    assert.deepEqual(sizes, [10, 10, 5]);
    assert.equal(new Set(seen).size, 25);
    assert.deepEqual([...seen].sort(), [...ids.keys()].sort());
  });

  it('paging with a filter never returns an empty page with a next cursor, and ends', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 20);
      const r = await call(h(), 'GET', `/v1/volumes?label=tier=silver&limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      if (r.body.next) assert.ok(r.body.items.length > 0);
      seen.push(...r.body.items.map((v: { name: string }) => v.name));
      cursor = r.body.next;
      if (!cursor) break;
    }
    assert.equal(seen.length, 12);
    assert.equal(new Set(seen).size, 12);
  });

  it('a cursor whose volume was deleted meanwhile still continues after it (no duplicates, no gaps)', async () => {
    const extra = ['w1', 'w2', 'w3', 'w4'];
    const made = new Map<string, string>();
    for (const name of extra) made.set(name, (await createOk(h(), { service: 'other', name, size: '1Mi' })).id);
    const first = await call(h(), 'GET', '/v1/volumes?service=other&limit=2');
    const firstNames = first.body.items.map((v: { name: string }) => v.name);
    const lastOfPage = first.body.items[1];
    assert.equal((await call(h(), 'DELETE', `/v1/volumes/${lastOfPage.id}`)).status, 200);
    const rest: string[] = [];
    let cursor: string | undefined = first.body.next;
    while (cursor) {
      const r = await call(h(), 'GET', `/v1/volumes?service=other&limit=2&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(r.status, 200, r.text);
      rest.push(...r.body.items.map((v: { name: string }) => v.name));
      cursor = r.body.next;
    }
    const all = [...firstNames, ...rest];
    assert.equal(new Set(all).size, all.length, 'no duplicates');
    assert.deepEqual([...all].sort(), [...['o1', 'o2', 'o3'], ...extra].sort(), 'no gaps');
  });

  it('a garbage cursor is 400 naming "cursor"', async () => {
    for (const cursor of ['!!!', 'not-a-cursor', Buffer.from('volumes\u0000x').toString('base64url'), 'x'.repeat(2000)]) {
      assertBadField(await call(h(), 'GET', `/v1/volumes?cursor=${encodeURIComponent(cursor)}`), 'cursor');
    }
  });

  it('a cursor handed out by another listing (snapshots) is 400, not a silent restart from the beginning', async () => {
    for (const name of ['s1', 's2']) {
      assert.equal((await call(h(), 'POST', `/v1/volumes/${ids.get('v00')}/snapshots`, { name })).status, 201);
    }
    const snaps = await call(h(), 'GET', '/v1/snapshots?limit=1');
    assert.ok(snaps.body.next, snaps.text);
    assertBadField(await call(h(), 'GET', `/v1/volumes?limit=5&cursor=${encodeURIComponent(snaps.body.next)}`), 'cursor');
  });

  it('bad query values are 400 naming the parameter', async () => {
    assertBadField(await call(h(), 'GET', '/v1/volumes?limit=0'), 'limit');
    assertBadField(await call(h(), 'GET', '/v1/volumes?limit=10001'), 'limit');
    assertBadField(await call(h(), 'GET', '/v1/volumes?limit=ten'), 'limit');
    assertBadField(await call(h(), 'GET', '/v1/volumes?status=sleeping'), 'status');
    assertBadField(await call(h(), 'GET', '/v1/volumes?service=..%2Fetc'), 'service');
    assertBadField(await call(h(), 'GET', '/v1/volumes?colour=red'), 'colour');
  });

  it('a label filter that is not key=value is 400 naming "label", not silently dropped (which would list everything)', async () => {
    for (const label of ['tier', '=gold', 'tier=gold,bogus']) {
      assertBadField(await call(h(), 'GET', `/v1/volumes?label=${encodeURIComponent(label)}`), 'label');
    }
  });
});

withHarness('GET / DELETE /v1/volumes/{id}', {}, (h) => {
  it('gets a volume; an unknown or malformed id is 404', async () => {
    const v = await createOk(h(), { name: 'g1', size: '1Mi' });
    const r = await call(h(), 'GET', `/v1/volumes/${v.id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, v);
    assertError(await call(h(), 'GET', '/v1/volumes/vol-00000000000000000000000000'), 404, 'NOT_FOUND');
    assertError(await call(h(), 'GET', `/v1/volumes/${encodeURIComponent('../../etc/passwd')}`), 404, 'NOT_FOUND');
  });

  it('an over-long id is a 4xx in the error envelope', async () => {
    for (const n of [150, 300]) {
      const long = await call(h(), 'GET', `/v1/volumes/vol-${'x'.repeat(n)}`);
      assert.ok(long.status >= 400 && long.status < 500, long.text);
      assert.deepEqual(Object.keys(long.body), ['error'], long.text);
      assert.deepEqual(Object.keys(long.body.error).sort(), ['code', 'details', 'message'], long.text);
    }
  });

  it('deletes: 200 with the volume, directory and record gone; deleting again is 404', async () => {
    const v = await createOk(h(), { name: 'd1', size: '1Mi' });
    assert.ok(existsSync(volumeDir(h(), v.id)));
    const r = await call(h(), 'DELETE', `/v1/volumes/${v.id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.id, v.id);
    assert.equal(existsSync(volumeDir(h(), v.id)), false);
    assertError(await call(h(), 'GET', `/v1/volumes/${v.id}`), 404, 'NOT_FOUND');
    assertError(await call(h(), 'DELETE', `/v1/volumes/${v.id}`), 404, 'NOT_FOUND');
    // The name is free again.
    await createOk(h(), { name: 'd1', size: '1Mi' });
  });

  it('deleting an attached volume is 409 naming the node; after detaching it can be deleted', async () => {
    const v = await createOk(h(), { name: 'd2', size: '1Mi' });
    assert.equal((await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'node-7' })).status, 200);
    assertError(await call(h(), 'DELETE', `/v1/volumes/${v.id}`), 409, 'FAILED_PRECONDITION', 'node-7');
    assert.ok(existsSync(volumeDir(h(), v.id)));
    assert.equal((await call(h(), 'DELETE', `/v1/volumes/${v.id}/attachments/node-7`)).status, 200);
    assert.equal((await call(h(), 'DELETE', `/v1/volumes/${v.id}`)).status, 200);
  });

  it('deleting gives the capacity back to the pool', async () => {
    const before = (await call(h(), 'GET', '/v1/pools')).body.items[0];
    const v = await createOk(h(), { name: 'd3', size: '5Gi' });
    const during = (await call(h(), 'GET', '/v1/pools')).body.items[0];
    assert.equal(during.provisionedBytes, before.provisionedBytes + 5 * GiB);
    assert.equal((await call(h(), 'DELETE', `/v1/volumes/${v.id}`)).status, 200);
    const afterDelete = (await call(h(), 'GET', '/v1/pools')).body.items[0];
    assert.equal(afterDelete.provisionedBytes, before.provisionedBytes);
    assert.equal(afterDelete.volumes, before.volumes);
  });
});

withHarness('POST /v1/volumes/{id}/labels', {}, (h) => {
  it('sets and removes labels', async () => {
    const v = await createOk(h(), { name: 'l1', size: '1Mi', labels: { a: '1', b: '2' } });
    const r = await call(h(), 'POST', `/v1/volumes/${v.id}/labels`, { set: { c: '3', 'app.kubernetes.io/name': 'pg' }, remove: ['a'] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.labels, { b: '2', c: '3', 'app.kubernetes.io/name': 'pg' });
    assert.deepEqual((await call(h(), 'GET', `/v1/volumes/${v.id}`)).body.labels, r.body.labels);
    const noop = await call(h(), 'POST', `/v1/volumes/${v.id}/labels`, {});
    assert.equal(noop.status, 200);
    assert.deepEqual(noop.body.labels, r.body.labels);
  });

  it('bad label keys and values are 400 naming the label; an unknown volume is 404', async () => {
    const v = await createOk(h(), { name: 'l2', size: '1Mi' });
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/labels`, { set: { '../x': 'y' } }), 'labels');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/labels`, { set: { k: 'a\u0001b' } }), 'labels');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/labels`, { remove: ['a b'] }), 'labels');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/labels`, { set: 'x' }), 'set');
    assertError(await call(h(), 'POST', '/v1/volumes/vol-nope/labels', { set: { a: 'b' } }), 404, 'NOT_FOUND');
    assert.deepEqual((await call(h(), 'GET', `/v1/volumes/${v.id}`)).body.labels, {});
  });
});

withHarness('POST /v1/volumes/{id}/offer and /revoke', {}, (h) => {
  it('offers to schedulers (idempotently) and revokes', async () => {
    const v = await createOk(h(), { name: 'o1', size: '1Mi' });
    const offered = await call(h(), 'POST', `/v1/volumes/${v.id}/offer`, { schedulers: ['kubernetes-1', 'mesos-15'] });
    assert.equal(offered.status, 200, offered.text);
    assert.deepEqual(offered.body.schedulers, ['kubernetes-1', 'mesos-15']);
    const again = await call(h(), 'POST', `/v1/volumes/${v.id}/offer`, { schedulers: ['mesos-15'] });
    assert.deepEqual(again.body.schedulers, ['kubernetes-1', 'mesos-15']);
    const revoked = await call(h(), 'POST', `/v1/volumes/${v.id}/revoke`, { schedulers: ['kubernetes-1'] });
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual(revoked.body.schedulers, ['mesos-15']);
  });

  it('an empty or bad scheduler list is 400 naming "schedulers"; an unknown volume is 404', async () => {
    const v = await createOk(h(), { name: 'o2', size: '1Mi' });
    for (const route of ['offer', 'revoke']) {
      assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/${route}`, { schedulers: [] }), 'schedulers');
      assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/${route}`, { schedulers: ['../x'] }), 'schedulers');
      assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/${route}`, {}), 'schedulers');
      assertError(await call(h(), 'POST', `/v1/volumes/vol-nope/${route}`, { schedulers: ['k8s'] }), 404, 'NOT_FOUND');
    }
  });
});

withHarness('attachments', {}, (h) => {
  it('RWO: attach, same node again is idempotent, a second node is 409 naming the holder, detach', async () => {
    const v = await createOk(h(), { name: 'a1', size: '1Mi' });
    const a = await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'node-a' });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.status, 'attached');
    assert.equal(a.body.attachments.length, 1);
    assert.equal(a.body.attachments[0].nodeId, 'node-a');
    assert.equal(a.body.attachments[0].accessMode, 'rwo');
    assert.equal(a.body.attachments[0].readOnly, false);

    const again = await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'node-a', accessMode: 'rwo' });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body.attachments, a.body.attachments);

    const e = assertError(await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'node-b' }), 409, 'FAILED_PRECONDITION', 'node-a');
    assert.equal(e.details['heldBy'], 'node-a');
    assertError(await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'node-a', readOnly: true }), 409, 'ALREADY_EXISTS', 'node-a');

    const d = await call(h(), 'DELETE', `/v1/volumes/${v.id}/attachments/node-a`);
    assert.equal(d.status, 200, d.text);
    assert.equal(d.body.status, 'available');
    assert.deepEqual(d.body.attachments, []);
    const d2 = await call(h(), 'DELETE', `/v1/volumes/${v.id}/attachments/node-a`);
    assert.equal(d2.status, 200, 'detaching a node that is not attached is a no-op');
    assert.equal((await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'node-b' })).status, 200);
  });

  it('RWX attaches to several nodes; ROX is read-only', async () => {
    const v = await createOk(h(), { name: 'a2', size: '1Mi' });
    for (const nodeId of ['n1', 'n2']) assert.equal((await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId, accessMode: 'rwx' })).status, 200);
    assert.equal((await call(h(), 'GET', `/v1/volumes/${v.id}`)).body.attachments.length, 2);
    assertError(await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'n3', accessMode: 'rwo' }), 409, 'FAILED_PRECONDITION');
    // Detaching one of two leaves it attached.
    const d = await call(h(), 'DELETE', `/v1/volumes/${v.id}/attachments/n1`);
    assert.equal(d.body.status, 'attached');

    const r = await createOk(h(), { name: 'a3', size: '1Mi' });
    const rox = await call(h(), 'POST', `/v1/volumes/${r.id}/attachments`, { nodeId: 'n1', accessMode: 'rox' });
    assert.equal(rox.status, 200, rox.text);
    assert.equal(rox.body.attachments[0].readOnly, true);
    assertBadField(await call(h(), 'POST', `/v1/volumes/${r.id}/attachments`, { nodeId: 'n2', accessMode: 'rox', readOnly: false }), 'readOnly');
  });

  it('detaching the last node of a volume in error keeps it in error (the failure is not forgotten)', async () => {
    const v = await createOk(h(), { name: 'a5', size: '1Mi' });
    assert.equal((await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'n1' })).status, 200);
    // As the reconciler leaves an attached volume whose backend vanished.
    const rec = await h().store.get<Record<string, unknown>>(`volumes/${v.id}`);
    await h().store.txn({ compares: [], ops: [{ type: 'put', key: `volumes/${v.id}`, value: { ...rec!.value, status: 'error', reason: 'backend volume is missing' } }] });
    const d = await call(h(), 'DELETE', `/v1/volumes/${v.id}/attachments/n1`);
    assert.equal(d.status, 200, d.text);
    assert.deepEqual(d.body.attachments, []);
    assert.equal(d.body.status, 'error');
    assert.equal(d.body.reason, 'backend volume is missing');
  });

  it('bad input is 400 naming the field; an unknown volume is 404', async () => {
    const v = await createOk(h(), { name: 'a4', size: '1Mi' });
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: 'n1', accessMode: 'rw-many' }), 'accessMode');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, {}), 'nodeId');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${v.id}/attachments`, { nodeId: '../n' }), 'nodeId');
    assertBadField(await call(h(), 'DELETE', `/v1/volumes/${v.id}/attachments/${encodeURIComponent('a b')}`), 'nodeId');
    assertError(await call(h(), 'POST', '/v1/volumes/vol-nope/attachments', { nodeId: 'n1' }), 404, 'NOT_FOUND');
    assert.equal((await call(h(), 'GET', `/v1/volumes/${v.id}`)).body.status, 'available');
  });
});

withHarness('snapshots', {}, (h) => {
  let vol: Record<string, any>;
  before(async () => {
    vol = await createOk(h(), { name: 'src', size: '1Gi' });
    await writeFile(path.join(volumeDir(h(), vol.id), 'hello.txt'), 'hello from the source\n');
    await mkdir(path.join(volumeDir(h(), vol.id), 'sub'));
    await writeFile(path.join(volumeDir(h(), vol.id), 'sub', 'data.bin'), Buffer.alloc(64 * 1024, 7));
  });

  it('create (201), same name again (200, same id), list, get, delete', async () => {
    const s = await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: 'snap1', labels: { why: 'test' } });
    assert.equal(s.status, 201, s.text);
    assert.match(s.body.id, /^snap-/);
    assert.equal(s.body.volumeId, vol.id);
    assert.equal(s.body.status, 'ready');
    assert.equal(s.body.size, GiB);
    assert.deepEqual(s.body.labels, { why: 'test' });
    const again = await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: 'snap1' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.id, s.body.id);

    const list = await call(h(), 'GET', `/v1/snapshots?volume=${vol.id}`);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((x: { id: string }) => x.id), [s.body.id]);
    assert.equal((await call(h(), 'GET', '/v1/snapshots?service=default')).body.items.length, 1);
    assert.equal((await call(h(), 'GET', '/v1/snapshots?volume=vol-other')).body.items.length, 0);

    const got = await call(h(), 'GET', `/v1/snapshots/${s.body.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, s.body);

    const del = await call(h(), 'DELETE', `/v1/snapshots/${s.body.id}`);
    assert.equal(del.status, 200, del.text);
    assertError(await call(h(), 'GET', `/v1/snapshots/${s.body.id}`), 404, 'NOT_FOUND');
    assertError(await call(h(), 'DELETE', `/v1/snapshots/${s.body.id}`), 404, 'NOT_FOUND');
    assert.equal(existsSync(path.join(h().poolRoot(), 'snapshots', s.body.id)), false);
  });

  it('errors: unknown volume 404, bad name 400, name taken by another volume\'s snapshot 409', async () => {
    assertError(await call(h(), 'POST', '/v1/volumes/vol-nope/snapshots', { name: 'x' }), 404, 'NOT_FOUND');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: '../x' }), 'name');
    assertBadField(await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, {}), 'name');
    assert.equal((await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: 'taken' })).status, 201);
    const other = await createOk(h(), { name: 'other', size: '1Mi' });
    assertError(await call(h(), 'POST', `/v1/volumes/${other.id}/snapshots`, { name: 'taken' }), 409, 'ALREADY_EXISTS');
    assertBadField(await call(h(), 'GET', '/v1/snapshots?limit=0'), 'limit');
  });

  it('creates a volume from a snapshot with the content copied', async () => {
    const s = await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: 'for-clone' });
    assert.equal(s.status, 201, s.text);
    // Changes after the snapshot do not reach the new volume.
    await writeFile(path.join(volumeDir(h(), vol.id), 'hello.txt'), 'changed later\n');
    const r = await create(h(), { name: 'restored', source: { snapshot: s.body.id } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.size, GiB, 'size defaults to the snapshot size');
    assert.deepEqual(r.body.source, { kind: 'snapshot', id: s.body.id });
    const dir = volumeDir(h(), r.body.id);
    assert.equal(await readFile(path.join(dir, 'hello.txt'), 'utf8'), 'hello from the source\n');
    assert.deepEqual(await readFile(path.join(dir, 'sub', 'data.bin')), Buffer.alloc(64 * 1024, 7));

    assertError(await create(h(), { name: 'too-small', size: '1Mi', source: { snapshot: s.body.id } }), 400, 'OUT_OF_RANGE');
    assertError(await create(h(), { name: 'from-nothing', source: { snapshot: 'snap-nope' } }), 404, 'NOT_FOUND');
  });

  it('clones a volume (source.volume)', async () => {
    const r = await create(h(), { name: 'clone', source: { volume: vol.id } });
    assert.equal(r.status, 201, r.text);
    assert.ok(existsSync(path.join(volumeDir(h(), r.body.id), 'sub', 'data.bin')));
  });

  it('Prefer: respond-async → 202 + /v1/operations/{id} reaching succeeded with progress (snapshot and create-from-snapshot)', async () => {
    await writeFile(path.join(volumeDir(h(), vol.id), 'big.bin'), Buffer.alloc(3 * MiB, 1));
    const s = await call(h(), 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: 'async-snap' }, { prefer: 'respond-async' });
    assert.equal(s.status, 202, s.text);
    assert.match(String(s.headers['location']), /^\/v1\/operations\/op-/);
    assert.equal(s.body.operation.status, 'running');
    const done = await waitForOperation(h(), String(s.headers['location']));
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.ok(done.progress.totalBytes >= 3 * MiB, JSON.stringify(done.progress));
    assert.equal(done.progress.doneBytes, done.progress.totalBytes);
    assert.equal(done.result.name, 'async-snap');
    assert.equal(done.result.status, 'ready');

    const c = await create(h(), { name: 'async-restored', source: { snapshot: done.result.id } }, { prefer: 'respond-async' });
    assert.equal(c.status, 202, c.text);
    const cdone = await waitForOperation(h(), String(c.headers['location']));
    assert.equal(cdone.status, 'succeeded', JSON.stringify(cdone));
    assert.equal(cdone.progress.doneBytes, cdone.progress.totalBytes);
    assert.ok(cdone.progress.totalBytes >= 3 * MiB);
    assert.equal(cdone.result.name, 'async-restored');
    assert.equal((await readFile(path.join(volumeDir(h(), cdone.result.id), 'big.bin'))).length, 3 * MiB);
  });

  it('an async operation that fails ends failed with the error envelope fields; an unknown operation is 404', async () => {
    const c = await create(h(), { name: 'async-bad', size: '1Mi', source: { snapshot: 'snap-nope' } }, { prefer: 'respond-async' });
    assert.equal(c.status, 202, c.text);
    const done = await waitForOperation(h(), String(c.headers['location']));
    assert.equal(done.status, 'failed');
    assert.equal(done.error.code, 'NOT_FOUND');
    assert.equal(typeof done.error.message, 'string');
    assertError(await call(h(), 'GET', '/v1/operations/op-nope'), 404, 'NOT_FOUND');
    // A missing volume is a 404 at once, not an operation that fails later.
    assertError(await call(h(), 'POST', '/v1/volumes/vol-nope/snapshots', { name: 'x' }, { prefer: 'respond-async' }), 404, 'NOT_FOUND');
  });
});

withHarness('unmanaged volumes', {}, (h) => {
  it('lists a directory Polly does not manage and adopts it', async () => {
    const dir = volumeDir(h(), 'legacy-data');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'old.txt'), 'kept');
    const list = await call(h(), 'GET', '/v1/unmanaged');
    assert.equal(list.status, 200, list.text);
    const found = list.body.items.find((u: { backendId: string }) => u.backendId === 'legacy-data');
    assert.deepEqual({ ...found, size: undefined }, { service: 'default', pool: 'local', backendId: 'legacy-data', kind: 'volume', size: undefined });
    assert.equal((await call(h(), 'GET', '/v1/unmanaged?service=default')).body.items.length, 1);

    const adopted = await call(h(), 'POST', '/v1/unmanaged/adopt', { service: 'default', pool: 'local', backendId: 'legacy-data', name: 'legacy', labels: { from: '2016' } });
    assert.equal(adopted.status, 201, adopted.text);
    assert.equal(adopted.headers['location'], `/v1/volumes/${adopted.body.id}`);
    assert.equal(adopted.body.status, 'available');
    assert.equal(adopted.body.name, 'legacy');
    assert.deepEqual(adopted.body.labels, { from: '2016' });
    assert.deepEqual((await call(h(), 'GET', '/v1/unmanaged')).body.items, []);
    assert.equal((await call(h(), 'GET', `/v1/volumes?service=default&name=legacy`)).body.items.length, 1);
    assert.equal(await readFile(path.join(dir, 'old.txt'), 'utf8'), 'kept');

    // Deleting the adopted volume removes its directory.
    assert.equal((await call(h(), 'DELETE', `/v1/volumes/${adopted.body.id}`)).status, 200);
    assert.equal(existsSync(dir), false);
  });

  it('adopt errors: not unmanaged 404, unknown pool 400, unknown service 404, name taken 409, bad names 400', async () => {
    await mkdir(volumeDir(h(), 'legacy-two'), { recursive: true });
    await createOk(h(), { name: 'taken', size: '1Mi' });
    const adopt = (b: Record<string, unknown>) => call(h(), 'POST', '/v1/unmanaged/adopt', { service: 'default', pool: 'local', backendId: 'legacy-two', name: 'two', ...b });
    assertError(await adopt({ backendId: 'no-such-dir' }), 404, 'NOT_FOUND');
    assertBadField(await adopt({ pool: 'nopool' }), 'pool');
    assertError(await adopt({ service: 'nosvc' }), 404, 'NOT_FOUND');
    assertError(await adopt({ name: 'taken' }), 409, 'ALREADY_EXISTS');
    assertBadField(await adopt({ backendId: '../escape' }), 'backendId');
    assertBadField(await adopt({ name: 'a..b' }), 'name');
    assertError(await call(h(), 'GET', '/v1/unmanaged?service=nosvc'), 404, 'NOT_FOUND');
    assert.equal((await adopt({})).status, 201);
    assertError(await adopt({ name: 'two-again' }), 404, 'NOT_FOUND');
  });
});

withHarness('/v1/store', {}, (h) => {
  it('dumps the raw records with paging, and erase keeps backend volumes as unmanaged', async () => {
    const v = await createOk(h(), { name: 's1', size: '1Mi' });
    await createOk(h(), { name: 's2', size: '1Mi' });
    const dump = await call(h(), 'GET', '/v1/store?prefix=volumes/');
    assert.equal(dump.status, 200, dump.text);
    assert.equal(dump.body.items.length, 2);
    for (const item of dump.body.items) {
      assert.match(item.key, /^volumes\/vol-/);
      assert.ok(Number.isInteger(item.revision) && item.revision > 0);
      assert.equal(typeof item.value, 'object');
    }
    const p1 = await call(h(), 'GET', '/v1/store?prefix=volumes/&limit=1');
    assert.equal(p1.body.items.length, 1);
    assert.ok(p1.body.next);
    const p2 = await call(h(), 'GET', `/v1/store?prefix=volumes/&limit=1&cursor=${encodeURIComponent(p1.body.next)}`);
    assert.equal(p2.body.items.length, 1);
    assert.notEqual(p2.body.items[0].key, p1.body.items[0].key);
    assert.equal(p2.body.next, undefined);
    assert.ok((await call(h(), 'GET', '/v1/store')).body.items.some((i: { key: string }) => i.key === 'pools/default/local'));
    assertBadField(await call(h(), 'GET', '/v1/store?limit=0'), 'limit');
    assertBadField(await call(h(), 'GET', '/v1/store?cursor=%21%21'), 'cursor');

    assertBadField(await call(h(), 'POST', '/v1/store/erase', {}), 'confirm');
    assertBadField(await call(h(), 'POST', '/v1/store/erase', { confirm: false }), 'confirm');
    assert.equal((await call(h(), 'GET', '/v1/volumes')).body.items.length, 2, 'nothing erased without confirm');

    const erased = await call(h(), 'POST', '/v1/store/erase', { confirm: true });
    assert.equal(erased.status, 200, erased.text);
    assert.ok(erased.body.erased >= 4, erased.text);
    assert.deepEqual((await call(h(), 'GET', '/v1/volumes')).body.items, []);
    assert.deepEqual((await call(h(), 'GET', '/v1/store')).body.items, []);
    const pool = (await call(h(), 'GET', '/v1/pools')).body.items[0];
    assert.equal(pool.provisionedBytes, 0);
    assert.equal(pool.volumes, 0);
    const unmanaged = (await call(h(), 'GET', '/v1/unmanaged')).body.items.map((u: { backendId: string }) => u.backendId);
    assert.ok(unmanaged.includes(v.id));
    assert.ok(existsSync(volumeDir(h(), v.id)), 'erase never touches the backend');
  });
});

withHarness('catalog and system routes', {
  services: [
    serviceSpec('default'),
    serviceSpec('fast', [poolSpec('ssd-a', { zone: 'a', types: ['ssd'], labels: { disk: 'nvme' }, maxIops: 5000, capacityBytes: 10 * GiB })], { description: 'fast ones', defaultType: 'ssd' }),
  ],
}, (h) => {
  it('GET /v1/services', async () => {
    const r = await call(h(), 'GET', '/v1/services');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.items.map((s: { name: string }) => s.name), ['default', 'fast']);
    const fast = r.body.items[1];
    assert.equal(fast.driver, 'dir');
    assert.equal(fast.description, 'fast ones');
    assert.equal(fast.defaultType, 'ssd');
    assert.deepEqual(fast.pools, ['ssd-a']);
    assert.equal(fast.capabilities.snapshot, true);
    assert.equal(fast.defaultSize, GiB);
    assert.deepEqual(fast.usage, { service: 'fast', volumes: 0, bytes: 0 });
    assert.equal((await call(h(), 'GET', '/v1/services/fast')).body.name, 'fast');
    assertError(await call(h(), 'GET', '/v1/services/nope'), 404, 'NOT_FOUND');
  });

  it('GET /v1/pools (all, by service, unknown service)', async () => {
    const all = await call(h(), 'GET', '/v1/pools');
    assert.deepEqual(all.body.items.map((p: { id: string }) => p.id), ['default/local', 'fast/ssd-a']);
    const fast = await call(h(), 'GET', '/v1/pools?service=fast');
    assert.equal(fast.body.items.length, 1);
    const p = fast.body.items[0];
    assert.equal(p.zone, 'a');
    assert.deepEqual(p.types, ['ssd']);
    assert.deepEqual(p.labels, { disk: 'nvme' });
    assert.equal(p.capacityBytes, 10 * GiB);
    assert.equal(p.maxIops, 5000);
    assertError(await call(h(), 'GET', '/v1/pools?service=nope'), 404, 'NOT_FOUND');
  });

  it('placement honours type, zone, iops and pool labels', async () => {
    const ok = await create(h(), { service: 'fast', name: 'p1', size: '1Gi', zone: 'a', iops: 100, poolLabels: { disk: 'nvme' } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.type, 'ssd', 'the service default type');
    assert.equal(ok.body.zone, 'a');
    assertError(await create(h(), { service: 'fast', name: 'p2', zone: 'b' }), 507, 'INSUFFICIENT_CAPACITY', 'zone');
    assertError(await create(h(), { service: 'fast', name: 'p3', type: 'hdd' }), 507, 'INSUFFICIENT_CAPACITY', 'hdd');
    assertError(await create(h(), { service: 'fast', name: 'p4', iops: 9999 }), 507, 'INSUFFICIENT_CAPACITY', 'IOPS');
    assertError(await create(h(), { service: 'fast', name: 'p5', poolLabels: { disk: 'sata' } }), 507, 'INSUFFICIENT_CAPACITY', 'disk');
  });

  it('GET /v1/version, /healthz, /readyz', async () => {
    const v = await call(h(), 'GET', '/v1/version');
    assert.deepEqual(v.body, { version: TEST_VERSION, api: 'v1', node: TEST_NODE_ID, store: 'sqlite' });
    assert.deepEqual((await call(h(), 'GET', '/healthz')).body, { ok: true });
    const ready = await call(h(), 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true });
  });

  it('GET /readyz is 503 when the store cannot serve', async () => {
    const own = await harness();
    try {
      await own.store.close();
      const r = await call(own, 'GET', '/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(r.body, { ready: false });
      assert.equal((await call(own, 'GET', '/healthz')).status, 200, 'liveness does not depend on the store');
    } finally {
      await own.close();
    }
  });

  it('GET /v1/reconcile shows the start-up report', async () => {
    const r = await call(h(), 'GET', '/v1/reconcile');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.last.finished, []);
    assert.deepEqual(r.body.last.errors, []);
  });

  it('GET /metrics: request counts, volumes per state, pool capacity', async () => {
    await createOk(h(), { name: 'm1', size: '1Mi' });
    await createOk(h(), { name: 'm2', size: '1Mi' });
    await call(h(), 'GET', '/v1/version');
    const r = await call(h(), 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/plain/);
    assert.match(r.text, /^polly_http_requests_total\{route="\/v1\/version",method="GET",status="200"\} \d+$/m);
    assert.match(r.text, /^polly_http_requests_total\{route="\/v1\/volumes",method="POST",status="201"\} \d+$/m);
    assert.match(r.text, /^polly_http_request_duration_seconds_count\{route="\/v1\/version",method="GET"\} \d+$/m);
    const available = /^polly_volumes\{state="available"\} (\d+)$/m.exec(r.text);
    assert.ok(available, 'polly_volumes{state="available"}');
    assert.ok(Number(available[1]) >= 2);
    assert.match(r.text, /^polly_volumes\{state="attached"\} \d+$/m);
    assert.match(r.text, new RegExp(`^polly_pool_capacity_bytes\\{service="default",pool="local"\\} ${100 * GiB}$`, 'm'));
    assert.match(r.text, new RegExp(`^polly_pool_capacity_bytes\\{service="fast",pool="ssd-a"\\} ${10 * GiB}$`, 'm'));
    // Unknown routes are counted under one label, not one per URL.
    await call(h(), 'GET', '/no/such/route/123');
    const again = await call(h(), 'GET', '/metrics');
    assert.equal(again.text.includes('/no/such/route/123'), false);
  });

  it('GET /v1/openapi.json: OpenAPI 3 with the /v1/volumes path and its request schema', async () => {
    const r = await call(h(), 'GET', '/v1/openapi.json');
    assert.equal(r.status, 200);
    const doc = r.body;
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(doc.info.version, TEST_VERSION);
    assert.equal(typeof doc.paths, 'object');
    const post = doc.paths['/v1/volumes']?.post;
    assert.ok(post, 'POST /v1/volumes documented');
    assert.ok(doc.paths['/v1/volumes'].get, 'GET /v1/volumes documented');
    const schema = post.requestBody.content['application/json'].schema;
    assert.equal(schema.type, 'object');
    assert.deepEqual([...schema.required].sort(), ['name', 'service']);
    for (const p of ['service', 'name', 'size', 'labels', 'source']) assert.ok(schema.properties[p], `property ${p}`);
    assert.equal(schema.properties.name.pattern, '^[A-Za-z0-9][A-Za-z0-9._-]*$');
    // Path parameters use OpenAPI syntax, every operation has responses, every $ref resolves.
    assert.ok(doc.paths['/v1/volumes/{id}']);
    assert.equal(Object.keys(doc.paths).some((p) => p.includes(':')), false);
    for (const [p, item] of Object.entries<Record<string, { responses?: object }>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) assert.ok(op.responses, `${method} ${p} has responses`);
    }
    for (const m of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      assert.ok(doc.components.schemas[m[1]!], `$ref ${m[1]} resolves`);
    }
    // Generated from the same schemas that validate: the documented pattern is what is enforced.
    assertBadField(await create(h(), { name: '-starts-with-dash' }), 'name');
  });

  it('an unknown route is 404 in the error envelope', async () => {
    assertError(await call(h(), 'GET', '/v1/nothing-here'), 404, 'NOT_FOUND', '/v1/nothing-here');
  });
});

withHarness('quotas', { services: [serviceSpec('default', [poolSpec('local')], { quota: { maxVolumes: 2, maxBytes: 3 * GiB } })] }, (h) => {
  it('max volumes and max bytes per service are 409 QUOTA_EXCEEDED; deleting frees quota', async () => {
    const a = await createOk(h(), { name: 'q1', size: '1Gi' });
    assertError(await create(h(), { name: 'q2', size: '3Gi' }), 409, 'QUOTA_EXCEEDED', '3Gi');
    await createOk(h(), { name: 'q3', size: '1Gi' });
    assertError(await create(h(), { name: 'q4', size: '1Mi' }), 409, 'QUOTA_EXCEEDED', '2');
    assert.equal((await call(h(), 'DELETE', `/v1/volumes/${a.id}`)).status, 200);
    await createOk(h(), { name: 'q4', size: '1Mi' });
    const svc = (await call(h(), 'GET', '/v1/services/default')).body;
    assert.deepEqual(svc.quota, { maxVolumes: 2, maxBytes: 3 * GiB });
    assert.deepEqual(svc.usage, { service: 'default', volumes: 2, bytes: GiB + MiB });
    // The same create again, with the quota full: the volume it made answers (200), not the quota.
    const again = await create(h(), { name: 'q4', size: '1Mi' });
    assert.equal(again.status, 200, again.text);
    assertError(await create(h(), { name: 'q4', size: '2Mi' }), 409, 'ALREADY_EXISTS', 'q4');
  });
});

withHarness('Idempotency-Key', {}, (h) => {
  it('same key, same body → the same volume', async () => {
    const a = await create(h(), { name: 'i1', size: '1Gi' }, { 'idempotency-key': 'key-1' });
    assert.equal(a.status, 201, a.text);
    const b = await create(h(), { name: 'i1', size: '1Gi' }, { 'idempotency-key': 'key-1' });
    assert.equal(b.status, 200, b.text);
    assert.equal(b.body.id, a.body.id);
  });

  it('same key, different size → 409', async () => {
    assert.equal((await create(h(), { name: 'i2', size: '1Gi' }, { 'idempotency-key': 'key-2' })).status, 201);
    assertError(await create(h(), { name: 'i2', size: '2Gi' }, { 'idempotency-key': 'key-2' }), 409, 'CONFLICT', 'Idempotency-Key');
  });

  it('same key, different name → 409 (not the other request\'s volume)', async () => {
    assert.equal((await create(h(), { name: 'i3', size: '1Gi' }, { 'idempotency-key': 'key-3' })).status, 201);
    const r = await create(h(), { name: 'i3-other', size: '1Gi' }, { 'idempotency-key': 'key-3' });
    assertError(r, 409, 'CONFLICT', 'Idempotency-Key');
  });

  it('a malformed key is 400 naming Idempotency-Key, and nothing is created', async () => {
    assertBadField(await create(h(), { name: 'i4', size: '1Gi' }, { 'idempotency-key': 'bad key/with spaces' }), 'Idempotency-Key');
    assert.equal((await call(h(), 'GET', '/v1/volumes?service=default&name=i4')).body.items.length, 0);
  });

  it('a key whose create failed can be used again', async () => {
    assertError(await create(h(), { name: 'i5', size: '500Gi' }, { 'idempotency-key': 'key-5' }), 507, 'INSUFFICIENT_CAPACITY');
    assert.equal((await create(h(), { name: 'i5', size: '1Gi' }, { 'idempotency-key': 'key-5' })).status, 201);
  });
});

withHarness('error envelope', {}, (h) => {
  const cases: [string, () => Promise<Res>, number, string][] = [
    ['unknown route', () => call(h(), 'GET', '/v2/anything'), 404, 'NOT_FOUND'],
    ['unknown method on a route', () => call(h(), 'PATCH', '/v1/volumes'), 404, 'NOT_FOUND'],
    ['schema violation', () => call(h(), 'POST', '/v1/volumes', { service: 'default' }), 400, 'INVALID_ARGUMENT'],
    ['core validation', () => call(h(), 'POST', '/v1/volumes', { service: 'default', name: 'a..b' }), 400, 'INVALID_ARGUMENT'],
    ['malformed JSON', () => call(h(), 'POST', '/v1/volumes', '{', { 'content-type': 'application/json' }), 400, 'INVALID_ARGUMENT'],
    ['missing volume', () => call(h(), 'GET', '/v1/volumes/vol-missing'), 404, 'NOT_FOUND'],
    ['missing snapshot', () => call(h(), 'GET', '/v1/snapshots/snap-missing'), 404, 'NOT_FOUND'],
    ['unsupported media type', () => call(h(), 'POST', '/v1/volumes', '<x/>', { 'content-type': 'application/xml' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  for (const [what, run, status, code] of cases) {
    it(`${what} → ${status} {"error":{"code","message","details"}}`, async () => {
      assertError(await run(), status, code);
    });
  }

  it('a retryable error says so in details', async () => {
    // A same-name create while the first is still `creating` answers IN_PROGRESS (retryable).
    const v = await createOk(h(), { name: 'busy', size: '1Mi' });
    const rec = await h().store.get<Record<string, unknown>>(`volumes/${v.id}`);
    await h().store.txn({ compares: [], ops: [{ type: 'put', key: `volumes/${v.id}`, value: { ...rec!.value, status: 'creating' } }] });
    const e = assertError(await create(h(), { name: 'busy', size: '1Mi' }), 409, 'IN_PROGRESS');
    assert.equal(e.details['retryable'], true);
  });
});

withHarness('authentication and tenancy', {
  services: [serviceSpec('default'), serviceSpec('private')],
  tokens: [
    { token: 'admin-secret', role: 'admin', name: 'root', services: '*' },
    { token: 'k8s-secret', role: 'scheduler', name: 'k8s', services: ['default'] },
    { token: 'mesos-secret', role: 'scheduler', name: 'mesos', services: '*' },
  ],
}, (h) => {
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  let adminVol: Record<string, any>;
  let k8sVol: Record<string, any>;
  before(async () => {
    adminVol = (await call(h(), 'POST', '/v1/volumes', { service: 'default', name: 'admins', size: '1Mi' }, as('admin-secret'))).body;
    k8sVol = (await call(h(), 'POST', '/v1/volumes', { service: 'default', name: 'k8s-own', size: '1Mi' }, as('k8s-secret'))).body;
  });

  it('no token or a wrong token is 401; health, metrics and version of the 2016 API stay open', async () => {
    assertError(await call(h(), 'GET', '/v1/volumes'), 401, 'UNAUTHENTICATED');
    assertError(await call(h(), 'GET', '/v1/volumes', undefined, as('wrong')), 401, 'UNAUTHENTICATED');
    assertError(await call(h(), 'GET', '/v1/volumes', undefined, { authorization: 'Basic a2V5' }), 401, 'UNAUTHENTICATED');
    assertError(await call(h(), 'GET', '/admin/volumes'), 401, 'UNAUTHENTICATED');
    assert.equal((await call(h(), 'GET', '/healthz')).status, 200);
  });

  it('a scheduler sees what it created and what is offered to it, nothing else', async () => {
    assert.equal(k8sVol.createdBy, 'k8s');
    const before = await call(h(), 'GET', '/v1/volumes', undefined, as('k8s-secret'));
    assert.deepEqual(before.body.items.map((v: { name: string }) => v.name), ['k8s-own']);
    assertError(await call(h(), 'GET', `/v1/volumes/${adminVol.id}`, undefined, as('k8s-secret')), 404, 'NOT_FOUND');
    assertError(await call(h(), 'DELETE', `/v1/volumes/${adminVol.id}`, undefined, as('k8s-secret')), 404, 'NOT_FOUND');
    assert.equal((await call(h(), 'POST', `/v1/volumes/${adminVol.id}/offer`, { schedulers: ['k8s'] }, as('admin-secret'))).status, 200);
    assert.equal((await call(h(), 'GET', `/v1/volumes/${adminVol.id}`, undefined, as('k8s-secret'))).status, 200);
    assert.equal((await call(h(), 'GET', '/v1/volumes', undefined, as('k8s-secret'))).body.items.length, 2);
    assert.equal((await call(h(), 'GET', '/v1/volumes', undefined, as('mesos-secret'))).body.items.length, 0);
  });

  it('admin-only routes are 403 for schedulers', async () => {
    const k8s = as('k8s-secret');
    assertError(await call(h(), 'POST', `/v1/volumes/${k8sVol.id}/labels`, { set: { a: 'b' } }, k8s), 403, 'FORBIDDEN');
    assertError(await call(h(), 'POST', `/v1/volumes/${k8sVol.id}/offer`, { schedulers: ['mesos'] }, k8s), 403, 'FORBIDDEN');
    assertError(await call(h(), 'GET', '/v1/store', undefined, k8s), 403, 'FORBIDDEN');
    assertError(await call(h(), 'POST', '/v1/store/erase', { confirm: true }, k8s), 403, 'FORBIDDEN');
    assertError(await call(h(), 'GET', '/v1/unmanaged', undefined, k8s), 403, 'FORBIDDEN');
    assertError(await call(h(), 'GET', '/v1/reconcile', undefined, k8s), 403, 'FORBIDDEN');
    assert.ok((await call(h(), 'GET', '/v1/store', undefined, as('admin-secret'))).body.items.length > 0);
  });

  it('a scheduler may not use a service it was not given (403), and does not see it in the catalog', async () => {
    assertError(await call(h(), 'POST', '/v1/volumes', { service: 'private', name: 'x', size: '1Mi' }, as('k8s-secret')), 403, 'FORBIDDEN');
    const services = await call(h(), 'GET', '/v1/services', undefined, as('k8s-secret'));
    assert.deepEqual(services.body.items.map((s: { name: string }) => s.name), ['default']);
    assert.deepEqual((await call(h(), 'GET', '/v1/pools', undefined, as('k8s-secret'))).body.items.map((p: { id: string }) => p.id), ['default/local']);
  });

  it('a scheduler cannot read another caller\'s operation (no leak through /v1/operations)', async () => {
    const s = await call(h(), 'POST', `/v1/volumes/${adminVol.id}/snapshots`, { name: 'admin-snap' }, { ...as('admin-secret'), prefer: 'respond-async' });
    assert.equal(s.status, 202, s.text);
    const location = String(s.headers['location']);
    const deadline = Date.now() + 10_000;
    while ((await call(h(), 'GET', location, undefined, as('admin-secret'))).body.status === 'running') {
      assert.ok(Date.now() < deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    assertError(await call(h(), 'GET', location, undefined, as('mesos-secret')), 404, 'NOT_FOUND');
  });

  it('idempotency keys are per caller', async () => {
    const a = await call(h(), 'POST', '/v1/volumes', { service: 'default', name: 'idem-a', size: '1Mi' }, { ...as('k8s-secret'), 'idempotency-key': 'shared' });
    const b = await call(h(), 'POST', '/v1/volumes', { service: 'default', name: 'idem-b', size: '1Mi' }, { ...as('mesos-secret'), 'idempotency-key': 'shared' });
    assert.equal(a.status, 201, a.text);
    assert.equal(b.status, 201, b.text);
    assert.notEqual(a.body.id, b.body.id);
  });
});

// ---------------------------------------------------------------------------------------------
// The 2016 API (specs/polly-2016/polly.apib)

const LEGACY_FIELDS = ['availabilityZone', 'fields', 'id', 'iops', 'labels', 'name', 'schedulers', 'serviceName', 'size', 'type', 'volumeid'];

withHarness('2016 /admin routes', {
  services: [serviceSpec('default'), serviceSpec('ec2-00', [poolSpec('east-1', { zone: 'east', types: ['nas'], maxIops: 2000 })])],
}, (h) => {
  let created: Record<string, any>;

  it('GET /admin/version', async () => {
    const r = await call(h(), 'GET', '/admin/version');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['versionPollyAdminAPI', 'versionPollyBuild', 'versionPollySchedulerAPI']);
    assert.equal(r.body.versionPollyBuild, TEST_VERSION);
  });

  it('POST /admin/volumes with the blueprint body (size in GiB) → 200, Location, the 2016 field names', async () => {
    const r = await call(h(), 'POST', '/admin/volumes', {
      service: 'ec2-00', name: 'mysql-vol', volumeType: 'nas', size: 2, iops: 135, availabilityZone: 'east',
      schedulers: ['mesos-15'], labels: { pollyadminappliedlabel1: 'foo' }, fields: { storageadminappliedlabel1: 'bar' },
    });
    assert.equal(r.status, 200, r.text);
    created = r.body;
    for (const f of LEGACY_FIELDS) assert.ok(f in created, `field ${f}`);
    assert.equal(r.headers['location'], `/admin/volumes/${created.volumeid}`);
    assert.equal(created.name, 'mysql-vol');
    assert.equal(created.size, 2);
    assert.equal(created.iops, 135);
    assert.equal(created.type, 'nas');
    assert.equal(created.availabilityZone, 'east');
    assert.equal(created.serviceName, 'ec2-00');
    assert.deepEqual(created.schedulers, ['mesos-15']);
    assert.deepEqual(created.labels, { pollyadminappliedlabel1: 'foo' });
    assert.deepEqual(created.fields, { storageadminappliedlabel1: 'bar' });
    assert.equal(typeof created.id, 'string');
    // The same volume through /v1: 2 GiB in bytes.
    const v1 = await call(h(), 'GET', `/v1/volumes/${created.volumeid}`);
    assert.equal(v1.body.size, 2 * GiB);
    assert.equal(v1.body.zone, 'east');
  });

  it('POST /admin/volumes errors: missing name 400, unknown service 404, bad size 400', async () => {
    assertBadField(await call(h(), 'POST', '/admin/volumes', { service: 'default' }), 'name');
    assertError(await call(h(), 'POST', '/admin/volumes', { service: 'nope', name: 'x' }), 404, 'NOT_FOUND');
    assertBadField(await call(h(), 'POST', '/admin/volumes', { service: 'default', name: 'x', size: 'big' }), 'size');
    assertBadField(await call(h(), 'POST', '/admin/volumes', { service: 'default', name: 'x', size: 0 }), 'size');
    assertBadField(await call(h(), 'POST', '/admin/volumes', { service: 'default', name: '../x' }), 'name');
    // Core checks these under its own names; the 2016 client hears its own field names.
    const badType = await call(h(), 'POST', '/admin/volumes', { service: 'default', name: 'x', volumeType: 'a/b' });
    assertBadField(badType, 'volumeType');
    assert.match(badType.body.error.message, /^volumeType: /);
    assertBadField(await call(h(), 'POST', '/admin/volumes', { service: 'default', name: 'x', availabilityZone: '../z' }), 'availabilityZone');
  });

  it('GET /admin/volumes and GET /admin/volumes/{volumeID}', async () => {
    const list = await call(h(), 'GET', '/admin/volumes');
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.body));
    const item = list.body.find((v: { volumeid: string }) => v.volumeid === created.volumeid);
    assert.ok(item);
    for (const f of LEGACY_FIELDS) assert.ok(f in item, `field ${f}`);
    const one = await call(h(), 'GET', `/admin/volumes/${created.volumeid}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, item);
    assertError(await call(h(), 'GET', '/admin/volumes/mock-vol-000'), 404, 'NOT_FOUND');
  });

  it('POST /admin/volumeoffer and /admin/volumeofferrevoke', async () => {
    const offered = await call(h(), 'POST', '/admin/volumeoffer', { volumeID: created.volumeid, schedulers: ['mesos-99'] });
    assert.equal(offered.status, 200, offered.text);
    assert.deepEqual(offered.body.schedulers, ['mesos-15', 'mesos-99']);
    assert.equal(offered.body.volumeid, created.volumeid);
    const revoked = await call(h(), 'POST', '/admin/volumeofferrevoke', { volumeID: created.volumeid, schedulers: ['mesos-99'] });
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual(revoked.body.schedulers, ['mesos-15']);
    assertBadField(await call(h(), 'POST', '/admin/volumeoffer', { volumeID: created.volumeid }), 'schedulers');
    assertBadField(await call(h(), 'POST', '/admin/volumeoffer', { schedulers: ['x'] }), 'volumeID');
    assertError(await call(h(), 'POST', '/admin/volumeofferrevoke', { volumeID: 'mock-vol-000', schedulers: ['x'] }), 404, 'NOT_FOUND');
  });

  it('POST /admin/volumelabel, then both label-remove spellings', async () => {
    const labelled = await call(h(), 'POST', '/admin/volumelabel', { volumeID: created.volumeid, labels: { color: 'magenta', location: 'area51', shelf: 'b' } });
    assert.equal(labelled.status, 200, labelled.text);
    assert.deepEqual(labelled.body.labels, { pollyadminappliedlabel1: 'foo', color: 'magenta', location: 'area51', shelf: 'b' });
    // The blueprint's spelling and body: keys in `schedulers`.
    const removed = await call(h(), 'POST', '/admin/volumelabelremove', { volumeID: created.volumeid, schedulers: ['location'] });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.labels, { pollyadminappliedlabel1: 'foo', color: 'magenta', shelf: 'b' });
    // The 2016 server's spelling, keys in `labels`.
    const removed2 = await call(h(), 'POST', '/admin/volumelabelsremove', { volumeID: created.volumeid, labels: ['shelf', 'pollyadminappliedlabel1'] });
    assert.equal(removed2.status, 200, removed2.text);
    assert.deepEqual(removed2.body.labels, { color: 'magenta' });
    const removed3 = await call(h(), 'POST', '/admin/volumelabelsremove', { volumeID: created.volumeid, schedulers: ['color'] });
    assert.deepEqual(removed3.body.labels, {});
    assertBadField(await call(h(), 'POST', '/admin/volumelabel', { volumeID: created.volumeid, labels: { '../k': 'v' } }), 'labels');
    assertError(await call(h(), 'POST', '/admin/volumelabel', { volumeID: 'nope', labels: { a: 'b' } }), 404, 'NOT_FOUND');
  });

  it('GET /admin/volumesall includes unmanaged volumes', async () => {
    await mkdir(volumeDir(h(), 'old-2016-vol', 'ec2-00', 'east-1'), { recursive: true });
    const r = await call(h(), 'GET', '/admin/volumesall');
    assert.equal(r.status, 200);
    const managed = r.body.find((v: { volumeid: string }) => v.volumeid === created.volumeid);
    assert.ok(managed, 'managed volume listed');
    const unmanaged = r.body.find((v: { id: string }) => v.id === 'old-2016-vol');
    assert.ok(unmanaged, 'unmanaged volume listed');
    assert.equal(unmanaged.serviceName, 'ec2-00');
    assert.equal(unmanaged.volumeid, '');
    for (const f of ['availabilityZone', 'name', 'size', 'id', 'type', 'volumeid', 'serviceName']) assert.ok(f in unmanaged, `field ${f}`);
    const managedOnly = await call(h(), 'GET', '/admin/volumes');
    assert.equal(managedOnly.body.some((v: { id: string }) => v.id === 'old-2016-vol'), false);
  });

  it('DELETE /admin/volumes/{volumeID} → an array with the deleted volume; again 404', async () => {
    const r = await call(h(), 'DELETE', `/admin/volumes/${created.volumeid}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.body));
    assert.equal(r.body.length, 1);
    assert.equal(r.body[0].volumeid, created.volumeid);
    assertError(await call(h(), 'GET', `/admin/volumes/${created.volumeid}`), 404, 'NOT_FOUND');
    assertError(await call(h(), 'DELETE', `/admin/volumes/${created.volumeid}`), 404, 'NOT_FOUND');
  });

  it('a create without size gets the service default, shown in GiB', async () => {
    const r = await call(h(), 'POST', '/admin/volumes', { service: 'default', name: 'plain' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.size, 1);
    assert.equal(r.body.availabilityZone, '');
    assert.equal(r.body.type, '');
  });
});
