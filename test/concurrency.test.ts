/**
 * Concurrency end to end (issue 2, items 4 and 10): a real server, hundreds of simultaneous
 * HTTP creates. Capacity reservation is atomic with the volume record, so a pool never
 * overcommits; same-name creates converge on one volume; quotas hold under a burst.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GiB, assertEnvelope, listAll, statusCounts, volumeDirs } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, type ApiResponse, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };

after(cleanup);

describe('500 concurrent creates against a pool that fits 100', LONG, () => {
  let server: RunningServer;
  const N = 500;
  let responses: ApiResponse[];

  before(async () => {
    server = await startPollyServer({
      config: { services: { default: { driver: 'dir', pools: [{ name: 'p1', capacity: '100Gi' }] } } },
    });
    responses = await Promise.all(
      Array.from({ length: N }, (_, i) => api(server, 'POST', '/v1/volumes', { service: 'default', name: `burst-${i}`, size: '1Gi' })),
    );
  });
  after(async () => server?.stop());

  it('gives exactly 100 × 201 and 400 × 507', () => {
    assert.deepEqual(statusCounts(responses), { 201: 100, 507: 400 }, JSON.stringify(responses.find((r) => r.status !== 201 && r.status !== 507)?.body));
  });

  it('every created volume is available, 1Gi, in pool p1, with a distinct id', () => {
    const created = responses.filter((r) => r.status === 201).map((r) => r.body);
    for (const v of created) {
      assert.equal(v.status, 'available');
      assert.equal(v.size, GiB);
      assert.equal(v.pool, 'default/p1');
    }
    assert.equal(new Set(created.map((v) => v.id)).size, 100);
  });

  it('every refusal is INSUFFICIENT_CAPACITY naming the pool and its reason', () => {
    for (const r of responses.filter((x) => x.status === 507)) {
      const err = assertEnvelope(r, 'POST /v1/volumes');
      assert.equal(err.code, 'INSUFFICIENT_CAPACITY');
      assert.match(err.message, /p1/, `message names the pool: ${err.message}`);
      const pools = err.details['pools'] as { pool: string; reason: string }[];
      assert.ok(Array.isArray(pools) && pools.length === 1, `details.pools lists the one pool: ${JSON.stringify(err.details)}`);
      assert.match(pools[0]!.pool, /p1$/);
      assert.equal(typeof pools[0]!.reason, 'string');
      assert.ok(pools[0]!.reason.length > 0);
      assert.ok(err.message.includes(pools[0]!.reason), `message carries the reason: ${err.message}`);
    }
  });

  it('the pool shows 100Gi provisioned, nothing reserved, 100 volumes', async () => {
    const res = await api(server, 'GET', '/v1/pools');
    assert.equal(res.status, 200);
    const pools = res.body.items as any[];
    assert.equal(pools.length, 1);
    assert.equal(pools[0].provisionedBytes, 100 * GiB);
    assert.equal(pools[0].reservedBytes, 0);
    assert.equal(pools[0].volumes, 100);
    assert.ok(pools[0].provisionedBytes <= pools[0].capacityBytes, 'never overcommitted');
  });

  it('the catalog and the disk hold exactly the 100 created volumes', async () => {
    const ids = new Set(responses.filter((r) => r.status === 201).map((r) => r.body.id as string));
    const listed = await listAll(server, '/v1/volumes?service=default&limit=37');
    assert.deepEqual(new Set(listed.map((v) => v.id)), ids);
    const dirs = volumeDirs(server, 'default', 'p1');
    assert.equal(dirs.length, 100);
    assert.deepEqual(new Set(dirs), new Set(listed.map((v) => v.id)), 'one directory per volume (dir name = volume id)');
  });

  it('after the burst, one more create is refused and a delete frees room for exactly one', async () => {
    const more = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'one-more', size: '1Gi' });
    assert.equal(more.status, 507);
    const victim = responses.find((r) => r.status === 201)!.body.id as string;
    const del = await api(server, 'DELETE', `/v1/volumes/${victim}`);
    assert.equal(del.status, 200, del.text);
    const retry = await Promise.all([1, 2, 3].map((i) => api(server, 'POST', '/v1/volumes', { service: 'default', name: `refill-${i}`, size: '1Gi' })));
    assert.deepEqual(statusCounts(retry), { 201: 1, 507: 2 });
  });
});

describe('same-name concurrent creates converge on one volume', LONG, () => {
  let server: RunningServer;
  before(async () => {
    server = await startPollyServer();
  });
  after(async () => server?.stop());

  /** Accepts only 200/201 carrying a volume, or 409 IN_PROGRESS marked retryable. */
  function checkAnswer(r: ApiResponse, name: string): void {
    if (r.status === 201 || r.status === 200) {
      assert.equal(r.body.name, name);
      return;
    }
    assert.equal(r.status, 409, `unexpected answer ${r.status}: ${r.text}`);
    const err = assertEnvelope(r);
    assert.equal(err.code, 'IN_PROGRESS', `only IN_PROGRESS may race the intent: ${r.text}`);
    assert.equal(err.details['retryable'], true);
  }

  it('50 identical parallel requests (5 rounds) → one volume each; answers are 200/201 with its id or 409 IN_PROGRESS', LONG, async () => {
    for (let round = 0; round < 5; round++) {
      const name = `shared-${round}`;
      const body = { service: 'default', name, size: '64Mi', labels: { team: 'a' } };
      const responses = await Promise.all(Array.from({ length: 50 }, () => api(server, 'POST', '/v1/volumes', body)));
      for (const r of responses) checkAnswer(r, name);
      const ok = responses.filter((r) => r.status === 201 || r.status === 200);
      const ids = new Set(ok.map((r) => r.body.id as string));
      assert.equal(responses.filter((r) => r.status === 201).length, 1, `exactly one request created ${name}: ${JSON.stringify(statusCounts(responses))}`);
      assert.equal(ids.size, 1, `every success carries the same id: ${[...ids].join(', ')}`);
      for (const r of ok) assert.equal(r.body.size, 64 * 1024 * 1024);

      const listed = await listAll(server, `/v1/volumes?name=${name}`);
      assert.equal(listed.length, 1);
      assert.equal(listed[0].id, [...ids][0]);
      assert.equal(listed[0].status, 'available');

      // A retry now (nothing in flight) is a plain 200 with the same volume.
      const again = await api(server, 'POST', '/v1/volumes', body);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.id, listed[0].id);

      // Same name, other arguments: a 409 conflict, and nothing new.
      const other = await api(server, 'POST', '/v1/volumes', { ...body, size: '128Mi' });
      assert.equal(other.status, 409, other.text);
      assertEnvelope(other);
    }
    const all = await listAll(server, '/v1/volumes');
    assert.equal(all.length, 5);
    assert.deepEqual(volumeDirs(server, 'default', 'local'), all.map((v) => v.id as string).sort());
    const pools = await api(server, 'GET', '/v1/pools');
    assert.equal(pools.body.items[0].provisionedBytes, 5 * 64 * 1024 * 1024);
    assert.equal(pools.body.items[0].reservedBytes, 0);
  });

  it('an unrelated create that races a same-name pair is never refused (20 rounds)', LONG, async () => {
    const failures: string[] = [];
    for (let round = 0; round < 20; round++) {
      const dup = { service: 'default', name: `pair-${round}`, size: '1Mi' };
      const [a, b, innocent] = await Promise.all([
        api(server, 'POST', '/v1/volumes', dup),
        api(server, 'POST', '/v1/volumes', dup),
        api(server, 'POST', '/v1/volumes', { service: 'default', name: `bystander-${round}`, size: '1Mi' }),
      ]);
      if (innocent!.status !== 201) failures.push(`round ${round}: bystander got ${innocent!.status} ${innocent!.text}`);
      for (const r of [a!, b!]) {
        try {
          checkAnswer(r, dup.name);
        } catch (e) {
          failures.push(`round ${round}: pair got ${r.status} ${r.text}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });
});

describe('quota: maxVolumes 10 under a burst', LONG, () => {
  let server: RunningServer;
  after(async () => server?.stop());

  it('30 parallel creates → 10 created, 20 × 409 QUOTA_EXCEEDED', LONG, async () => {
    server = await startPollyServer({
      config: { services: { limited: { driver: 'dir', quota: { maxVolumes: 10 }, pools: [{ name: 'p1' }] } } },
    });
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => api(server, 'POST', '/v1/volumes', { service: 'limited', name: `q-${i}`, size: '1Mi' })),
    );
    assert.deepEqual(statusCounts(responses), { 201: 10, 409: 20 }, JSON.stringify(responses.find((r) => r.status !== 201 && r.status !== 409)?.body));
    for (const r of responses.filter((x) => x.status === 409)) {
      const err = assertEnvelope(r);
      assert.equal(err.code, 'QUOTA_EXCEEDED', r.text);
      assert.match(err.message, /limited/, `message names the service: ${err.message}`);
    }
    const listed = await listAll(server, '/v1/volumes?service=limited');
    assert.equal(listed.length, 10);
    assert.equal(volumeDirs(server, 'limited', 'p1').length, 10);

    const services = await api(server, 'GET', '/v1/services/limited');
    assert.equal(services.status, 200);
    assert.equal(services.body.usage.volumes, 10);

    // Deleting one makes room for exactly one more.
    const del = await api(server, 'DELETE', `/v1/volumes/${listed[0].id}`);
    assert.equal(del.status, 200, del.text);
    const refill = await Promise.all([1, 2, 3, 4].map((i) => api(server, 'POST', '/v1/volumes', { service: 'limited', name: `refill-${i}`, size: '1Mi' })));
    assert.deepEqual(statusCounts(refill), { 201: 1, 409: 3 });
  });
});
