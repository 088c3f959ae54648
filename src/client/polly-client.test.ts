import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, ConnectionError, PollyClient } from './polly-client.js';
import { closedPort, startFakeServer, type FakeServer } from './testing/fake-server.js';
import { pool, service, snapshot, volume } from './testing/fixtures.js';
import type { Volume } from './types.js';

const notFound = (id: string) => ({
  status: 404,
  body: { error: { code: 'NOT_FOUND', message: `volume "${id}" not found`, details: { kind: 'volume', id } } },
});

describe('PollyClient', () => {
  let fake: FakeServer;
  let opPolls = 0;

  before(async () => {
    fake = await startFakeServer({
      'GET /v1/version': () => ({ body: { version: '0.2.0', api: 'v1', node: 'v20', store: 'sqlite' } }),
      'GET /healthz': () => ({ body: { status: 'ok' } }),
      'GET /readyz': () => ({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'starting', details: {} } } }),
      'GET /v1/services': () => ({ body: { items: [service()] } }),
      'GET /v1/pools': () => ({ body: { items: [pool()] } }),
      'GET /v1/volumes': (r) => {
        // Three pages: no cursor → a, b; cursor c2 → c, d; cursor c3 → e (last).
        const cursor = r.query.get('cursor');
        if (cursor === null) return { body: { items: [volume({ id: 'a' }), volume({ id: 'b' })], next: 'c2' } };
        if (cursor === 'c2') return { body: { items: [volume({ id: 'c' }), volume({ id: 'd' })], next: 'c3' } };
        return { body: { items: [volume({ id: 'e' })] } };
      },
      'GET /v1/volumes/:id': (r) => (r.params.id === 'vol-1' ? { body: volume() } : notFound(r.params.id!)),
      'DELETE /v1/volumes/:id': (r) => ({ body: volume({ id: r.params.id!, status: 'deleting' }) }),
      'POST /v1/volumes': (r) => {
        const b = r.body as { name: string; source?: unknown };
        if (r.headers.prefer === 'respond-async' && b.source) {
          return { status: 202, body: { operation: { id: 'op-1', kind: 'create-volume', status: 'running', progress: { doneBytes: 0, totalBytes: 100 } } } };
        }
        if (b.name === 'dup') return { status: 409, body: { error: { code: 'CONFLICT', message: 'name taken with other arguments', details: { name: 'dup' } } } };
        return { status: 201, body: volume({ name: b.name }) };
      },
      'GET /v1/operations/:id': (r) => {
        if (r.params.id === 'op-bad') {
          return { body: { operation: { id: 'op-bad', kind: 'create-volume', status: 'failed', progress: { doneBytes: 5, totalBytes: 100 }, error: { code: 'BACKEND_ERROR', message: 'copy failed' } } } };
        }
        opPolls++;
        const done = opPolls >= 3;
        return {
          body: {
            operation: {
              id: 'op-1',
              kind: 'create-volume',
              status: done ? 'succeeded' : 'running',
              progress: { doneBytes: done ? 100 : opPolls * 30, totalBytes: 100 },
              ...(done ? { result: volume({ id: 'clone' }) } : {}),
            },
          },
        };
      },
      'POST /v1/volumes/:id/labels': (r) => ({ body: volume({ labels: (r.body as { set?: Record<string, string> }).set ?? {} }) }),
      'POST /v1/volumes/:id/offer': (r) => ({ body: volume({ schedulers: (r.body as { schedulers: string[] }).schedulers }) }),
      'POST /v1/volumes/:id/revoke': () => ({ body: volume({ schedulers: [] }) }),
      'POST /v1/volumes/:id/snapshots': (r) => ({ status: 201, body: snapshot({ volumeId: r.params.id!, name: (r.body as { name: string }).name }) }),
      'GET /v1/snapshots': () => ({ body: { items: [snapshot()] } }),
      'GET /v1/snapshots/:id': () => ({ body: snapshot() }),
      'DELETE /v1/snapshots/:id': () => ({ body: snapshot() }),
      'GET /v1/unmanaged': () => ({ body: { items: [{ service: 'local', pool: 'p1', backendId: 'orphan', kind: 'dir', size: 1024 }] } }),
      'POST /v1/unmanaged/adopt': (r) => ({ status: 201, body: volume({ name: (r.body as { name: string }).name }) }),
      'GET /v1/store': () => ({ body: { items: [{ key: 'volumes/a', revision: 3, value: { id: 'a' } }] } }),
      'POST /v1/store/erase': () => ({ body: { erased: 7 } }),
      'GET /proxy/v1/version': () => ({ status: 502, raw: '<html>Bad Gateway</html>' }),
      'GET /slow/v1/version': () => ({ hang: true }),
    });
  });
  after(() => fake.close());

  const client = (token?: string) => new PollyClient({ baseUrl: fake.url, token });
  const last = () => fake.requests[fake.requests.length - 1]!;

  it('sends the bearer token when one is set, and none otherwise', async () => {
    await client('s3cret').version();
    assert.equal(last().headers.authorization, 'Bearer s3cret');
    await client().version();
    assert.equal(last().headers.authorization, undefined);
  });

  it('reads the server version', async () => {
    assert.deepEqual(await client().version(), { version: '0.2.0', api: 'v1', node: 'v20', store: 'sqlite' });
  });

  it('reports health and readiness without throwing on 503', async () => {
    assert.equal((await client().health()).ok, true);
    const ready = await client().ready();
    assert.equal(ready.ok, false);
    assert.equal(ready.status, 503);
  });

  it('pages through all volumes (3 pages)', async () => {
    const before = fake.requests.length;
    const ids: string[] = [];
    for await (const v of client().allVolumes({ service: 'local', labels: { a: '1', b: '2' } })) ids.push(v.id);
    assert.deepEqual(ids, ['a', 'b', 'c', 'd', 'e']);
    const calls = fake.requests.slice(before);
    assert.equal(calls.length, 3);
    assert.deepEqual(calls.map((c) => c.query.get('cursor')), [null, 'c2', 'c3']);
    for (const c of calls) {
      assert.equal(c.query.get('service'), 'local');
      assert.deepEqual(c.query.getAll('label'), ['a=1', 'b=2']);
    }
  });

  it('returns one page with its next cursor', async () => {
    const page = await client().listVolumes({ limit: 2 });
    assert.equal(page.items.length, 2);
    assert.equal(page.next, 'c2');
    assert.equal(last().query.get('limit'), '2');
  });

  it('throws ApiError with the server code, message and details', async () => {
    await assert.rejects(client().getVolume('nope'), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 404);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.message, 'volume "nope" not found');
      assert.deepEqual(e.details, { kind: 'volume', id: 'nope' });
      return true;
    });
  });

  it('turns a non-JSON error body into an ApiError with HTTP_<status>', async () => {
    const behindProxy = new PollyClient({ baseUrl: `${fake.url}/proxy/` });
    await assert.rejects(behindProxy.version(), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 502);
      assert.equal(e.code, 'HTTP_502');
      assert.match(e.message, /^502 Bad Gateway: <html>Bad Gateway<\/html>$/);
      return true;
    });
  });

  it('creates a volume with the body and Idempotency-Key', async () => {
    const v = await client().createVolume({ service: 'local', name: 'new', size: 1024 }, { idempotencyKey: 'k1' });
    assert.equal(v.name, 'new');
    assert.deepEqual(last().body, { service: 'local', name: 'new', size: 1024 });
    assert.equal(last().headers['idempotency-key'], 'k1');
    assert.equal(last().headers['content-type'], 'application/json');
    assert.equal(last().headers.prefer, undefined);
  });

  it('surfaces a conflict on a create', async () => {
    await assert.rejects(client().createVolume({ service: 'local', name: 'dup', size: 1 }), (e: unknown) => e instanceof ApiError && e.status === 409 && e.code === 'CONFLICT');
  });

  it('follows a long copy: 202 operation, then polls until it succeeded', async () => {
    const started = await client().startCreateVolume({ service: 'local', name: 'c', size: 1, source: { snapshot: 'snap-1' } });
    assert.equal(last().headers.prefer, 'respond-async');
    assert.equal(started.done, false);
    if (started.done) return;
    const seen: number[] = [];
    const result = await client().waitForOperation<Volume>(started.operation.id, { intervalMs: 5, onProgress: (op) => seen.push(op.progress.doneBytes) });
    assert.equal(result.id, 'clone');
    assert.deepEqual(seen, [30, 60, 100]);
  });

  it('answers done at once when the server does not go async', async () => {
    const started = await client().startCreateVolume({ service: 'local', name: 'quick', size: 1 });
    assert.ok(started.done);
    assert.equal(started.done && started.value.name, 'quick');
  });

  it('throws the error of a failed operation', async () => {
    await assert.rejects(client().waitForOperation('op-bad', { intervalMs: 5 }), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'BACKEND_ERROR');
      assert.equal(e.message, 'copy failed');
      assert.equal(e.details.operation, 'op-bad');
      return true;
    });
  });

  it('calls every volume route with the documented bodies', async () => {
    const c = client();
    assert.equal((await c.getVolume('vol-1')).id, 'vol-1');
    assert.equal((await c.deleteVolume('vol 2')).id, 'vol 2');
    assert.equal(last().path, '/v1/volumes/vol%202');
    assert.deepEqual((await c.labelVolume('vol-1', { set: { a: 'b' }, remove: ['c'] })).labels, { a: 'b' });
    assert.deepEqual(last().body, { set: { a: 'b' }, remove: ['c'] });
    assert.deepEqual((await c.offerVolume('vol-1', ['k8s', 'nomad'])).schedulers, ['k8s', 'nomad']);
    assert.deepEqual(last().body, { schedulers: ['k8s', 'nomad'] });
    await c.revokeVolume('vol-1', ['k8s']);
    assert.equal(last().path, '/v1/volumes/vol-1/revoke');
    assert.deepEqual(last().body, { schedulers: ['k8s'] });
  });

  it('calls the snapshot routes', async () => {
    const c = client();
    const s = await c.createSnapshot('vol-1', { name: 'nightly', labels: { x: 'y' } });
    assert.equal(s.name, 'nightly');
    assert.deepEqual(last().body, { name: 'nightly', labels: { x: 'y' } });
    const list = [];
    for await (const x of c.allSnapshots({ volume: 'vol-1', service: 'local' })) list.push(x);
    assert.equal(list.length, 1);
    assert.equal(last().query.get('volume'), 'vol-1');
    assert.equal(last().query.get('service'), 'local');
    assert.equal((await c.getSnapshot('snap-1')).id, 'snap-1');
    assert.equal((await c.deleteSnapshot('snap-1')).id, 'snap-1');
    assert.equal(last().method, 'DELETE');
  });

  it('calls catalog, unmanaged and store routes', async () => {
    const c = client();
    assert.equal((await c.listServices())[0]!.name, 'local');
    assert.equal((await c.listPools({ service: 'local' }))[0]!.name, 'p1');
    assert.equal(last().query.get('service'), 'local');
    assert.equal((await c.listUnmanaged({ service: 'local' }))[0]!.backendId, 'orphan');
    const adopted = await c.adoptVolume({ service: 'local', pool: 'p1', backendId: 'orphan', name: 'kept' });
    assert.equal(adopted.name, 'kept');
    assert.deepEqual(last().body, { service: 'local', pool: 'p1', backendId: 'orphan', name: 'kept' });
    const entries = [];
    for await (const e of c.allStore({ prefix: 'volumes/' })) entries.push(e);
    assert.equal(entries[0]!.key, 'volumes/a');
    assert.equal(last().query.get('prefix'), 'volumes/');
    assert.deepEqual(await c.eraseStore(), { erased: 7 });
    assert.deepEqual(last().body, { confirm: true });
  });

  it('says clearly when nothing listens at the address', async () => {
    const port = await closedPort();
    const c = new PollyClient({ baseUrl: `http://127.0.0.1:${port}` });
    await assert.rejects(c.version(), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.code, 'ECONNREFUSED');
      assert.equal(e.message, `cannot reach Polly at http://127.0.0.1:${port}: ECONNREFUSED`);
      return true;
    });
  });

  it('gives up after the time limit', async () => {
    const c = new PollyClient({ baseUrl: `${fake.url}/slow`, timeoutMs: 100 });
    await assert.rejects(c.version(), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.code, 'TIMEOUT');
      assert.match(e.message, /no answer from Polly at .* within 100 ms/);
      return true;
    });
  });
});
