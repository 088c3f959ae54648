/**
 * Offers and claims end to end (issue 6): a real server process over real sockets. 1,000
 * concurrent accepts against capacity for 100 give exactly 100 claims; expired claims give their
 * capacity back; a create consumes a claim; a decline hides an offer for its refuse period; the
 * watch stream resumes with Last-Event-ID without losing an event; the CLI lists and accepts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { PollyClient } from '../src/client/polly-client.js';
import type { OfferStreamEvent } from '../src/client/types.js';
import { GiB, assertEnvelope, statusCounts } from './support/polly-fixtures.js';
import { api, bearer, cleanup, cliRun, startPollyServer, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };
const ADMIN = 'offers-admin-0123456789';
const MESOS = 'offers-mesos-0123456789';
const NOMAD = 'offers-nomad-0123456789';

after(cleanup);

const config = (claims: Record<string, string>) => ({
  auth: {
    tokens: [
      { name: 'ops', token: ADMIN, role: 'admin' },
      { name: 'mesos', token: MESOS, role: 'scheduler', services: '*' },
      { name: 'nomad', token: NOMAD, role: 'scheduler', services: ['default'] },
    ],
  },
  claims,
  services: { default: { driver: 'dir', pools: [{ name: 'p1', capacity: '100Gi', zone: 'a' }, { name: 'p2', capacity: '10Gi', zone: 'b' }] } },
});

async function offerOf(server: RunningServer, token: string, pool: string): Promise<any> {
  const r = await api(server, 'GET', '/v1/offers', undefined, bearer(token));
  assert.equal(r.status, 200, r.text);
  return (r.body.items as any[]).find((o) => o.kind === 'capacity' && o.pool === pool);
}

describe('offers and claims against a real server', LONG, () => {
  let server: RunningServer;
  before(async () => {
    server = await startPollyServer({ config: config({ defaultTtl: '10m', maxTtl: '1h', expireInterval: '200ms' }) });
  });
  after(async () => server?.stop());

  it('1,000 concurrent accepts against capacity for 100 → exactly 100 claims and 900 clear insufficient-capacity errors', LONG, async () => {
    const offer = await offerOf(server, MESOS, 'default/p1');
    assert.equal(offer.freeBytes, 100 * GiB);
    const responses = await Promise.all(
      Array.from({ length: 1000 }, () => api(server, 'POST', `/v1/offers/${offer.id}/accept`, { size: '1Gi' }, bearer(MESOS))),
    );
    assert.deepEqual(statusCounts(responses), { 201: 100, 507: 900 }, JSON.stringify(responses.find((r) => r.status !== 201 && r.status !== 507)?.body));
    for (const r of responses.filter((x) => x.status === 507)) {
      const err = assertEnvelope(r, 'accept');
      assert.equal(err.code, 'INSUFFICIENT_CAPACITY');
      assert.match(err.message, /pool default\/p1 cannot reserve the claim: needs 1Gi, 0B? free/);
    }
    const ids = new Set(responses.filter((r) => r.status === 201).map((r) => r.body.id as string));
    assert.equal(ids.size, 100);
    const claims = await api(server, 'GET', '/v1/claims', undefined, bearer(MESOS));
    assert.deepEqual(new Set((claims.body.items as any[]).map((c) => c.id)), ids);
    const pools = await api(server, 'GET', '/v1/pools', undefined, bearer(ADMIN));
    const p1 = (pools.body.items as any[]).find((p) => p.id === 'default/p1');
    assert.equal(p1.reservedBytes, 100 * GiB);
    assert.equal(await offerOf(server, MESOS, 'default/p1'), undefined, 'reserved capacity is never offered twice');
    assert.equal(await offerOf(server, NOMAD, 'default/p1'), undefined, 'nor to another scheduler');
    // A plain create cannot take the reserved capacity either.
    const create = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'squeezed', size: '1Gi', zones: ['a'] }, bearer(NOMAD));
    assert.equal(create.status, 507, create.text);
    // Give everything back for the next tests.
    for (const id of ids) assert.equal((await api(server, 'DELETE', `/v1/claims/${id}`, undefined, bearer(MESOS))).status, 200);
    assert.equal((await offerOf(server, MESOS, 'default/p1')).freeBytes, 100 * GiB);
  });

  it('an expired claim is released by the server\'s loop and its capacity is offered again', LONG, async () => {
    const offer = await offerOf(server, NOMAD, 'default/p2');
    const claim = await api(server, 'POST', `/v1/offers/${offer.id}/accept`, { size: '4Gi', ttl: 1 }, bearer(NOMAD));
    assert.equal(claim.status, 201, claim.text);
    assert.equal((await offerOf(server, NOMAD, 'default/p2')).freeBytes, 6 * GiB);
    const deadline = Date.now() + 10_000;
    let free = 0;
    while (Date.now() < deadline) {
      free = (await offerOf(server, NOMAD, 'default/p2')).freeBytes;
      if (free === 10 * GiB) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(free, 10 * GiB, 'capacity back after expiry');
    const claims = await api(server, 'GET', '/v1/claims', undefined, bearer(NOMAD));
    assert.deepEqual(claims.body.items, []);
    const use = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'late', size: '1Gi', claim: claim.body.id }, bearer(NOMAD));
    assert.equal(use.status, 404, use.text);
  });

  it('a create with a claim takes the claim\'s pool and reservation; only its owner may use it', LONG, async () => {
    const offer = await offerOf(server, MESOS, 'default/p2');
    const claim = (await api(server, 'POST', `/v1/offers/${offer.id}/accept`, { size: '2Gi' }, bearer(MESOS))).body;
    const stolen = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'stolen', size: '1Gi', claim: claim.id }, bearer(NOMAD));
    assert.equal(stolen.status, 404, stolen.text);
    const made = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'claimed', size: '2Gi', claim: claim.id }, bearer(MESOS));
    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.pool, 'default/p2');
    const pools = await api(server, 'GET', '/v1/pools', undefined, bearer(ADMIN));
    const p2 = (pools.body.items as any[]).find((p) => p.id === 'default/p2');
    assert.equal(p2.reservedBytes, 0);
    assert.equal(p2.provisionedBytes, 2 * GiB);
    assert.deepEqual((await api(server, 'GET', '/v1/claims', undefined, bearer(MESOS))).body.items, []);
  });

  it('a declined offer is not sent to that scheduler again for the refuse period', LONG, async () => {
    const offer = await offerOf(server, NOMAD, 'default/p1');
    const d = await api(server, 'POST', `/v1/offers/${offer.id}/decline`, { refuseSeconds: 1.5 }, bearer(NOMAD));
    assert.equal(d.status, 200, d.text);
    const t0 = Date.now();
    assert.equal(await offerOf(server, NOMAD, 'default/p1'), undefined);
    assert.ok(await offerOf(server, MESOS, 'default/p1'), 'other schedulers still get it');
    await new Promise((r) => setTimeout(r, Math.max(0, 1600 - (Date.now() - t0))));
    assert.ok(await offerOf(server, NOMAD, 'default/p1'), 'offered again after the refuse period');
  });

  it('the watch stream resumes with Last-Event-ID without losing an event', LONG, async () => {
    const client = new PollyClient({ baseUrl: server.url, token: MESOS });
    const next = async (it: AsyncGenerator<OfferStreamEvent>): Promise<OfferStreamEvent> => {
      const r = await Promise.race([it.next(), new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 10_000).unref())]);
      assert.ok(r !== 'timeout' && !r.done, 'an event arrives');
      return r.value;
    };
    const ac = new AbortController();
    const first = client.watchOffers({ signal: ac.signal });
    const snap = await next(first);
    assert.equal(snap.type, 'snapshot');
    // A change while connected.
    const a = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'watch-a', size: '1Gi' }, bearer(MESOS));
    let last: OfferStreamEvent;
    do last = await next(first);
    while (!(last.type === 'added' && last.offer.volumeId === a.body.id));
    ac.abort();

    // Changes while disconnected: each must arrive on resume.
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const v = await api(server, 'POST', '/v1/volumes', { service: 'default', name: `watch-b${i}`, size: '1Gi' }, bearer(MESOS));
      made.push(v.body.id);
      await new Promise((r) => setTimeout(r, 80));
    }
    const resumed = client.watchOffers({ lastEventId: last.id });
    const seen = new Set<string>();
    while (made.some((id) => !seen.has(id))) {
      const e = await next(resumed);
      assert.notEqual(e.type, 'snapshot', 'a resume replays, it does not start over');
      if (e.type === 'added' && e.offer.volumeId) seen.add(e.offer.volumeId);
    }
    await resumed.return(undefined);
  });

  it('CLI: polly offer ls and offer accept, claim ls and claim rm (YAML, JSON and table)', LONG, async () => {
    const ls = await cliRun(server, ['offer', 'ls'], { token: MESOS });
    assert.equal(ls.code, 0, ls.stderr);
    const offers = parseYaml(ls.stdout) as any[];
    const p1 = offers.find((o) => o.pool === 'default/p1');
    assert.ok(p1, ls.stdout);
    const table = await cliRun(server, ['offer', 'ls', '--format', 'table'], { token: MESOS });
    assert.match(table.stdout, /^ID\s+KIND\s+SERVICE\s+POOL\s+ZONE\s+VOLUME\s+SIZE\s+FREE\n/);
    assert.match(table.stdout, /capacity\s+default\s+default\/p1\s+a\s+-\s+\d+Gi\s+\d+Gi/);

    const accept = await cliRun(server, ['offer', 'accept', p1.id, '--size', '2Gi', '--ttl', '5m', '--format', 'json'], { token: MESOS });
    assert.equal(accept.code, 0, accept.stderr);
    const claim = JSON.parse(accept.stdout);
    assert.equal(claim.size, 2 * GiB);
    assert.equal(Date.parse(claim.expiresAt) - Date.parse(claim.createdAt), 300_000);

    const none = await cliRun(server, ['offer', 'accept', p1.id], { token: MESOS });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /size/);
    const bad = await cliRun(server, ['offer', 'accept', p1.id, '--size', 'lots'], { token: MESOS });
    assert.equal(bad.code, 2, bad.stderr);

    const claims = parseYaml((await cliRun(server, ['claim', 'ls'], { token: MESOS })).stdout) as any[];
    assert.deepEqual(claims.map((c) => c.id), [claim.id]);
    const rm = await cliRun(server, ['claim', 'rm', claim.id], { token: MESOS });
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(parseYaml((await cliRun(server, ['claim', 'ls'], { token: MESOS })).stdout), []);

    // volume create --claim: the claim's pool, and its size when --size is left out.
    const again = JSON.parse((await cliRun(server, ['offer', 'accept', p1.id, '--size', '3Gi', '--format', 'json'], { token: MESOS })).stdout);
    const created = await cliRun(server, ['volume', 'create', '--servicename', 'default', '--name', 'cli-claimed', '--claim', again.id, '--format', 'json'], { token: MESOS });
    assert.equal(created.code, 0, created.stderr);
    const vol = JSON.parse(created.stdout);
    assert.equal(vol.pool, 'default/p1');
    assert.equal(vol.size, 3 * GiB);
    assert.deepEqual(parseYaml((await cliRun(server, ['claim', 'ls'], { token: MESOS })).stdout), []);

    const decline = await cliRun(server, ['offer', 'decline', p1.id, '--refuse', '1m'], { token: NOMAD });
    assert.equal(decline.code, 0, decline.stderr);
    assert.ok(!(parseYaml((await cliRun(server, ['offer', 'ls'], { token: NOMAD })).stdout) as any[]).some((o) => o.id === p1.id));

    const watch = await cliRun(server, ['offer', 'watch', '--count', '1', '--format', 'json'], { token: MESOS });
    assert.equal(watch.code, 0, watch.stderr);
    const event = JSON.parse(watch.stdout.trim());
    assert.equal(event.type, 'snapshot');
    assert.ok(event.offers.some((o: any) => o.id === p1.id));
    const watchTable = await cliRun(server, ['offer', 'watch', '--count', '1', '--format', 'table'], { token: MESOS });
    assert.equal(watchTable.code, 0, watchTable.stderr);
    assert.match(watchTable.stdout, /^EVENT\s+EVENT ID\s+ID\s+KIND\s+SERVICE\s+POOL/);
    assert.match(watchTable.stdout, /\nsnapshot\s+\S+\s+ofr-\S+\s+capacity\s+default\s+default\/p1/);
    const watchYaml = await cliRun(server, ['offer', 'watch', '--count', '1'], { token: MESOS });
    assert.equal(watchYaml.code, 0, watchYaml.stderr);
    assert.equal((parseYaml(watchYaml.stdout.replace(/^---\n/, '')) as any).type, 'snapshot');
  });
});
