import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PollyClient } from '../../client/polly-client.js';
import type { OfferStreamEvent } from '../../client/types.js';
import { GiB } from '../../core/units.js';
import { harness, injectJson, poolSpec, serviceSpec, type Harness, type InjectedResponse } from './test-harness.js';

const ADMIN_TOKEN = 'admin-token-0123456789';
const MESOS_TOKEN = 'mesos-token-0123456789';
const K8S_TOKEN = 'k8s-token-01234567890';
const as = (token: string) => ({ authorization: `Bearer ${token}` });

type Res = InjectedResponse;

const call = (h: Harness, method: string, url: string, token: string, payload?: unknown): Promise<Res> => injectJson(h, method, url, payload, as(token));

function assertError(res: Res, status: number, code: string, mentions?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body?.error?.code, code, res.text);
  if (mentions) assert.match(res.body.error.message, mentions);
}

function options() {
  return {
    services: [
      serviceSpec('gold', [poolSpec('g1', { capacityBytes: 10 * GiB, zone: 'a', types: ['ssd'] }), poolSpec('g2', { capacityBytes: 5 * GiB, zone: 'b' })]),
      serviceSpec('bronze', [poolSpec('b1', { capacityBytes: 50 * GiB })]),
    ],
    tokens: [
      { token: ADMIN_TOKEN, role: 'admin' as const, name: 'ops', services: '*' as const },
      { token: MESOS_TOKEN, role: 'scheduler' as const, name: 'mesos', services: '*' as const },
      { token: K8S_TOKEN, role: 'scheduler' as const, name: 'k8s', services: ['gold'] },
    ],
  };
}

const offerFor = (offers: any[], pool: string) => offers.find((o) => o.kind === 'capacity' && o.pool === pool);

describe('admin API: offers and claims', () => {
  let h: Harness;
  before(async () => {
    h = await harness(options());
  });
  after(async () => h?.close());

  it('GET /v1/offers: capacity offers of the services a scheduler may use; admins may name a scheduler', async () => {
    const mesos = await call(h, 'GET', '/v1/offers', MESOS_TOKEN);
    assert.equal(mesos.status, 200, mesos.text);
    assert.deepEqual(mesos.body.items.map((o: any) => o.pool).sort(), ['bronze/b1', 'gold/g1', 'gold/g2']);
    const g1 = offerFor(mesos.body.items, 'gold/g1');
    assert.deepEqual({ zone: g1.zone, types: g1.types, freeBytes: g1.freeBytes, maxVolumeBytes: g1.maxVolumeBytes }, { zone: 'a', types: ['ssd'], freeBytes: 10 * GiB, maxVolumeBytes: 10 * GiB });
    assert.match(g1.id, /^ofr-[A-Za-z0-9_-]+$/);
    const k8s = await call(h, 'GET', '/v1/offers', K8S_TOKEN);
    assert.deepEqual(k8s.body.items.map((o: any) => o.pool).sort(), ['gold/g1', 'gold/g2']);
    const byAdmin = await call(h, 'GET', '/v1/offers?scheduler=k8s', ADMIN_TOKEN);
    assert.equal(byAdmin.status, 200);
    assertError(await call(h, 'GET', '/v1/offers?scheduler=k8s', MESOS_TOKEN), 403, 'FORBIDDEN');
    assertError(await call(h, 'GET', '/v1/offers?scheduler=../x', ADMIN_TOKEN), 400, 'INVALID_ARGUMENT', /scheduler/);
    assertError(await call(h, 'GET', '/v1/offers', 'not-a-valid-token-xx'), 401, 'UNAUTHENTICATED');
  });

  it('accept → 201 claim with location; errors name what is wrong; 507 when the pool cannot hold it', async () => {
    const g2 = offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'gold/g2');
    const r = await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, { size: '2Gi', ttl: 60 });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers['location'], `/v1/claims/${r.body.id}`);
    assert.equal(r.body.kind, 'capacity');
    assert.equal(r.body.size, 2 * GiB);
    assert.equal(r.body.scheduler, 'mesos');
    assert.equal(Date.parse(r.body.expiresAt) - Date.parse(r.body.createdAt), 60_000);
    assert.equal(offerFor((await call(h, 'GET', '/v1/offers', K8S_TOKEN)).body.items, 'gold/g2').freeBytes, 3 * GiB, 'reserved capacity is not offered again');

    assertError(await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, { size: '4Gi' }), 507, 'INSUFFICIENT_CAPACITY', /gold\/g2.*needs 4Gi, 3Gi free/);
    assertError(await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, {}), 400, 'INVALID_ARGUMENT', /size/);
    assertError(await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, { size: 'lots' }), 400, 'INVALID_ARGUMENT', /size/);
    assertError(await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, { size: '1Gi', ttl: 999_999 }), 400, 'OUT_OF_RANGE', /ttl/);
    assertError(await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, { size: '1Gi', ttl: 'soon' }), 400, 'INVALID_ARGUMENT', /ttl/);
    assertError(await call(h, 'POST', `/v1/offers/${g2.id}/accept`, MESOS_TOKEN, { size: '1Gi', extra: 1 }), 400, 'INVALID_ARGUMENT', /extra/);
    assertError(await call(h, 'POST', '/v1/offers/ofr-nonsense/accept', MESOS_TOKEN, { size: '1Gi' }), 404, 'NOT_FOUND', /offer/);
    const b1 = offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'bronze/b1');
    assertError(await call(h, 'POST', `/v1/offers/${b1.id}/accept`, K8S_TOKEN, { size: '1Gi' }), 404, 'NOT_FOUND');

    const claims = await call(h, 'GET', '/v1/claims', MESOS_TOKEN);
    assert.deepEqual(claims.body.items.map((c: any) => c.id), [r.body.id]);
    assert.deepEqual((await call(h, 'GET', '/v1/claims', K8S_TOKEN)).body.items, []);
    assert.equal((await call(h, 'GET', `/v1/claims/${r.body.id}`, MESOS_TOKEN)).body.id, r.body.id);
    assertError(await call(h, 'GET', `/v1/claims/${r.body.id}`, K8S_TOKEN), 404, 'NOT_FOUND');

    const released = await call(h, 'DELETE', `/v1/claims/${r.body.id}`, MESOS_TOKEN);
    assert.equal(released.status, 200, released.text);
    assert.equal(offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'gold/g2').freeBytes, 5 * GiB);
    assertError(await call(h, 'DELETE', `/v1/claims/${r.body.id}`, MESOS_TOKEN), 404, 'NOT_FOUND');
  });

  it('POST /v1/volumes with a claim: the claim\'s pool, its reservation, once, by its owner only', async () => {
    const g1 = offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'gold/g1');
    const claim = (await call(h, 'POST', `/v1/offers/${g1.id}/accept`, MESOS_TOKEN, { size: '3Gi' })).body;
    assertError(await call(h, 'POST', '/v1/volumes', K8S_TOKEN, { service: 'gold', name: 'steal', size: '1Gi', claim: claim.id }), 404, 'NOT_FOUND', /claim/);
    assertError(await call(h, 'POST', '/v1/volumes', MESOS_TOKEN, { service: 'gold', name: 'bad', size: '1Gi', claim: 'vol-x' }), 400, 'INVALID_ARGUMENT', /claim/);
    assertError(await call(h, 'POST', '/v1/volumes', MESOS_TOKEN, { service: 'gold', name: 'big', size: '4Gi', claim: claim.id }), 400, 'OUT_OF_RANGE', /larger than claim/);
    assertError(await call(h, 'POST', '/v1/volumes', MESOS_TOKEN, { service: 'bronze', name: 'other', size: '1Gi', claim: claim.id }), 400, 'INVALID_ARGUMENT', /service gold/);
    const made = await call(h, 'POST', '/v1/volumes', MESOS_TOKEN, { service: 'gold', name: 'from-claim', size: '3Gi', claim: claim.id });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.pool, 'gold/g1');
    assert.equal(made.body.createdBy, 'mesos');
    assertError(await call(h, 'POST', '/v1/volumes', MESOS_TOKEN, { service: 'gold', name: 'again', size: '1Gi', claim: claim.id }), 404, 'NOT_FOUND');
    const pools = (await call(h, 'GET', '/v1/pools?service=gold', ADMIN_TOKEN)).body.items;
    const p = pools.find((x: any) => x.id === 'gold/g1');
    assert.equal(p.reservedBytes, 0);
    assert.equal(p.provisionedBytes, 3 * GiB);
  });

  it('volume offers: accept claims the volume; attach consumes the claim; others are refused while it lives', async () => {
    const made = await call(h, 'POST', '/v1/volumes', ADMIN_TOKEN, { service: 'gold', name: 'shared', size: '1Gi', schedulers: ['k8s'] });
    const offer = (await call(h, 'GET', '/v1/offers', K8S_TOKEN)).body.items.find((o: any) => o.kind === 'volume' && o.volumeId === made.body.id);
    assert.ok(offer, 'offered to k8s');
    assert.equal(offer.size, GiB);
    assert.ok(!(await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items.some((o: any) => o.id === offer.id), 'not offered to mesos');
    assertError(await call(h, 'POST', `/v1/offers/${offer.id}/accept`, K8S_TOKEN, { size: '1Gi' }), 400, 'INVALID_ARGUMENT', /size/);
    const claim = await call(h, 'POST', `/v1/offers/${offer.id}/accept`, K8S_TOKEN, {});
    assert.equal(claim.status, 201, claim.text);
    assert.equal(claim.body.volumeId, made.body.id);
    assertError(await call(h, 'POST', `/v1/offers/${offer.id}/accept`, K8S_TOKEN, {}), 409, 'CONFLICT', /claimed/);
    assertError(await call(h, 'POST', `/v1/volumes/${made.body.id}/attachments`, ADMIN_TOKEN, { nodeId: 'n1' }), 409, 'FAILED_PRECONDITION', /claimed by k8s/);
    const attached = await call(h, 'POST', `/v1/volumes/${made.body.id}/attachments`, K8S_TOKEN, { nodeId: 'n1', claim: claim.body.id });
    assert.equal(attached.status, 200, attached.text);
    assert.equal(attached.body.status, 'attached');
    assert.deepEqual((await call(h, 'GET', '/v1/claims', K8S_TOKEN)).body.items, []);
  });

  it('decline hides the offer from the decliner for the refuse period', async () => {
    const b1 = offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'bronze/b1');
    assertError(await call(h, 'POST', `/v1/offers/${b1.id}/decline`, MESOS_TOKEN, { refuseSeconds: -1 }), 400, 'INVALID_ARGUMENT', /refuseSeconds/);
    const d = await call(h, 'POST', `/v1/offers/${b1.id}/decline`, MESOS_TOKEN, { refuseSeconds: 0.5 });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.body.offerId, b1.id);
    assert.ok(!offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'bronze/b1'));
    assert.ok(offerFor((await call(h, 'GET', '/v1/offers?scheduler=k8s', ADMIN_TOKEN)).body.items, 'bronze/b1'), 'other audiences still get it');
    await new Promise((r) => setTimeout(r, 550));
    assert.ok(offerFor((await call(h, 'GET', '/v1/offers', MESOS_TOKEN)).body.items, 'bronze/b1'), 'back after the refuse period');
  });
});

describe('admin API: the offer watch stream', () => {
  let h: Harness;
  let base: string;
  before(async () => {
    h = await harness({ ...options(), offerFeed: { debounceMs: 5 }, offerHeartbeatMs: 100 });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  after(async () => h?.close());

  const client = (token = MESOS_TOKEN) => new PollyClient({ baseUrl: base, token });

  /** Reads events until `done` says so (or fails after 5 s); the stream stays open for more reads. */
  async function read(stream: AsyncGenerator<OfferStreamEvent>, done: (seen: OfferStreamEvent[]) => boolean): Promise<OfferStreamEvent[]> {
    const seen: OfferStreamEvent[] = [];
    const deadline = Date.now() + 5000;
    while (!done(seen)) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(1, deadline - Date.now()))));
      const next = await Promise.race([stream.next(), timeout]);
      clearTimeout(timer);
      if (next === 'timeout' || next.done) break;
      seen.push(next.value);
    }
    assert.ok(done(seen), `stream ended or stalled early: ${JSON.stringify(seen.map((e) => e.type))}`);
    return seen;
  }

  it('sends a snapshot, then changes; a resume with Last-Event-ID replays what was missed; heartbeats flow', async () => {
    const ac = new AbortController();
    const stream = client().watchOffers({ signal: ac.signal });
    const [snap] = await read(stream, (s) => s.length >= 1);
    assert.equal(snap!.type, 'snapshot');
    assert.equal(snap!.type === 'snapshot' && snap!.offers.length, 3);
    const g1 = snap!.type === 'snapshot' ? snap!.offers.find((o) => o.pool === 'gold/g1')! : undefined;
    await client().acceptOffer(g1!.id, { size: GiB });
    const live = await read(stream, (s) => s.some((e) => e.type === 'changed'));
    const changed = live.find((e) => e.type === 'changed')!;
    assert.equal(changed.type === 'changed' && changed.offer.freeBytes, 9 * GiB);
    ac.abort();

    // Missed while disconnected: a volume made for mesos (added) and a release (changed).
    const v = await client().createVolume({ service: 'gold', name: 'while-away', size: GiB });
    await new Promise((r) => setTimeout(r, 100));
    const resumed = client().watchOffers({ lastEventId: changed.id });
    const replay = await read(resumed, (s) => s.some((e) => e.type === 'added' && e.offer.volumeId === v.id));
    assert.ok(replay.every((e) => e.type !== 'snapshot'), JSON.stringify(replay.map((e) => e.type)));
    await resumed.return(undefined);

    // Heartbeat comments keep an idle stream alive.
    const res = await fetch(`${base}/v1/offers/watch`, { headers: as(MESOS_TOKEN) });
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes(': heartbeat') && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    assert.match(text, /: heartbeat/);
    await reader.cancel();
  });

  it('a bad request gets the JSON error envelope, not a stream', async () => {
    const r = await fetch(`${base}/v1/offers/watch?scheduler=k8s`, { headers: as(MESOS_TOKEN) });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error.code, 'FORBIDDEN');
  });

  it('closing the server ends open streams cleanly', async () => {
    const stream = client().watchOffers();
    await read(stream, (s) => s.length >= 1);
    const ended = (async () => {
      for await (const _ of stream) {
        // drain until the server ends the stream
      }
      return 'ended';
    })();
    const t0 = Date.now();
    await h.app.close();
    assert.equal(await ended, 'ended');
    assert.ok(Date.now() - t0 < 5000);
  });
});
