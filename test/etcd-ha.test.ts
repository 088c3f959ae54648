/**
 * Several Polly server replicas on a real 3-member etcd cluster (issue 7): every replica serves
 * the API, one leads; capacity holds across replicas under a burst; the leader's death hands
 * over the background loops within 5 s without losing or doubling anything; etcd going away
 * turns writes into quick retryable 503s, and the replicas recover when it returns.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcdCluster, waitHealthy, type EtcdCluster } from '../src/store/etcd/testing/etcd-cluster.js';
import { makeTestCertificates } from '../src/store/etcd/testing/test-certificates.js';
import { cleanupHostDir } from '../src/drivers/node/testing/host-cleanup.js';
import { fenceGuardOf, nodeReady, startAgent } from './support/agent-process.js';
import { startReplicas, versionOf, waitForLeader } from './support/etcd-replicas.js';
import { GiB, assertEnvelope, listAll, listDir, statusCounts } from './support/polly-fixtures.js';
import { PollyClient } from '../src/client/polly-client.js';
import type { OfferStreamEvent } from '../src/client/types.js';
import { api, cleanup, cliRun, tempDir, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 240_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  readonly status: number;
  readonly body?: any;
  /** The request never got an answer (the replica died under it). */
  readonly lost?: boolean;
}

/** POST /v1/volumes that survives a dead replica: a connection error is an unanswered request. */
async function create(server: RunningServer, name: string, service: string, size: string): Promise<Outcome> {
  try {
    const res = await api(server, 'POST', '/v1/volumes', { service, name, size }, {}, 30_000);
    return { status: res.status, body: res.body };
  } catch {
    return { status: 0, lost: true };
  }
}

/** What the catalog holds for a service, checked for internal consistency. */
async function assertConsistent(server: RunningServer, service: string, pool: string): Promise<any[]> {
  const volumes = (await listAll(server, `/v1/volumes?service=${service}`)).filter((v) => v.service === service);
  const ids = new Set(volumes.map((v) => v.id));
  assert.equal(ids.size, volumes.length, 'no volume listed twice');
  const poolView = (await api(server, 'GET', `/v1/pools?service=${service}`)).body.items.find((p: any) => p.name === pool);
  const sum = (vs: any[]) => vs.reduce((s, v) => s + v.size, 0);
  const creating = volumes.filter((v) => v.status === 'creating');
  // The usage record in the store itself, then this replica's cached view of it.
  const stored = (await listAll<{ key: string; value: any }>(server, `/v1/store?prefix=pools/${service}/${pool}`))[0]!.value;
  assert.deepEqual([stored.volumes, stored.reservedBytes, stored.provisionedBytes], [volumes.length, sum(creating), sum(volumes) - sum(creating)], 'the stored usage record matches the volume records');
  assert.equal(poolView.volumes, volumes.length, 'the pool counts every volume record');
  assert.equal(poolView.reservedBytes, sum(creating), 'reserved bytes are the creating volumes');
  assert.equal(poolView.provisionedBytes, sum(volumes) - sum(creating), 'provisioned bytes are the others');
  return volumes;
}

/** Waits until the replica's cached pool view matches its catalog, then returns the volumes. */
async function settled(server: RunningServer, service: string, pool: string): Promise<any[]> {
  await waitUntil(async () => Boolean(await assertConsistent(server, service, pool)), 10_000, `${server.url}: pool view matches the records`).catch(() => undefined);
  return assertConsistent(server, service, pool);
}

after(cleanup);

describe('three replicas on a 3-member etcd cluster', LONG, () => {
  let etcd: EtcdCluster;
  let replicas: RunningServer[];
  let shared: string;

  before(async () => {
    etcd = await startEtcdCluster({ members: 3 });
    shared = tempDir('shared-pools');
    replicas = await startReplicas({
      endpoints: etcd.endpoints,
      replicas: 3,
      services: {
        burst: { driver: 'dir', pools: [{ name: 'p1', path: join(shared, 'burst'), capacity: '100Gi' }] },
        load: { driver: 'dir', pools: [{ name: 'p1', path: join(shared, 'load'), capacity: '100000Gi' }] },
      },
    });
  });
  after(async () => {
    await Promise.all((replicas ?? []).map((r) => r.stop('SIGKILL')));
    await etcd?.stop();
  });

  it('every replica serves the API; exactly one leads and all name the same leader', async () => {
    const { leader } = await waitForLeader(replicas);
    const versions = await Promise.all(replicas.map(versionOf));
    assert.deepEqual(versions.map((v) => v?.leading), replicas.map((r) => r === leader));
    const name = versions.find((v) => v?.leading)!.replica;
    await waitUntil(async () => (await Promise.all(replicas.map(versionOf))).every((v) => v?.leader === name), 5000, 'every replica knows the leader');
    for (const r of replicas) {
      const res = await api(r, 'GET', '/v1/services');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.items.map((s: any) => s.name).sort(), ['burst', 'load']);
    }
  });

  it('500 concurrent creates spread over the 3 replicas against capacity for 100: exactly 100', async () => {
    const responses = await Promise.all(Array.from({ length: 500 }, (_, i) => api(replicas[i % 3]!, 'POST', '/v1/volumes', { service: 'burst', name: `b-${i}`, size: '1Gi' }, {}, 120_000)));
    assert.deepEqual(statusCounts(responses), { 201: 100, 507: 400 }, JSON.stringify(responses.find((r) => r.status !== 201 && r.status !== 507)?.body));
    for (const r of responses.filter((x) => x.status === 507)) assert.equal(assertEnvelope(r).code, 'INSUFFICIENT_CAPACITY');
    const created = responses.filter((r) => r.status === 201).map((r) => r.body);
    assert.equal(new Set(created.map((v) => v.id)).size, 100);
    // One backend directory per volume, none extra.
    assert.deepEqual(listDir(join(shared, 'burst', 'volumes')), created.map((v) => v.backendId ?? v.id).sort());
    // Watches brought every replica's pool view to the same, full state.
    await waitUntil(async () => {
      const views = await Promise.all(replicas.map(async (r) => (await api(r, 'GET', '/v1/pools?service=burst')).body.items[0]));
      return views.every((p) => p.volumes === 100 && p.provisionedBytes === 100 * GiB && p.reservedBytes === 0);
    }, 5000, 'every replica sees 100 volumes in the pool');
    for (const r of replicas) assert.equal((await settled(r, 'burst', 'p1')).length, 100);
    // The next create is refused on every replica, whichever did the last write.
    for (const [i, r] of replicas.entries()) assert.equal((await api(r, 'POST', '/v1/volumes', { service: 'burst', name: `extra-${i}`, size: '1Gi' })).status, 507);
  });

  it("a replica's offers stream shows what another replica wrote, within seconds", async () => {
    const client = new PollyClient({ baseUrl: replicas[0]!.url });
    const ac = new AbortController();
    const stream = client.watchOffers({ scheduler: 'mesos', signal: ac.signal });
    const next = async (): Promise<OfferStreamEvent> => {
      const r = await Promise.race([stream.next(), sleep(10_000).then(() => 'timeout' as const)]);
      assert.ok(r !== 'timeout' && !r.done, 'an event arrives within 10 s (the feed only re-checks by itself every 30 s)');
      return r.value;
    };
    try {
      assert.equal((await next()).type, 'snapshot');
      const made = await api(replicas[1]!, 'POST', '/v1/volumes', { service: 'burst', name: 'offered-elsewhere', size: '1Gi', schedulers: ['mesos'] });
      // The burst pool is full: make room first, on the third replica.
      if (made.status === 507) {
        const victim = (await listAll(replicas[2]!, '/v1/volumes?service=burst'))[0];
        assert.equal((await api(replicas[2]!, 'DELETE', `/v1/volumes/${victim.id}`)).status, 200);
      }
      const created = made.status === 201 ? made : await api(replicas[1]!, 'POST', '/v1/volumes', { service: 'burst', name: 'offered-elsewhere', size: '1Gi', schedulers: ['mesos'] });
      assert.equal(created.status, 201, created.text);
      let e: OfferStreamEvent;
      do e = await next();
      while (!(e.type === 'added' && e.offer.volumeId === created.body.id));
    } finally {
      ac.abort();
    }
  });

  it('killing the leader during load: another leads within 5 s; nothing acknowledged is lost or doubled', async (t) => {
    const { leader } = await waitForLeader(replicas);
    const survivors = replicas.filter((r) => r !== leader);
    const outcomes: { name: string; outcome: Outcome }[] = [];
    let n = 0;
    let stop = false;
    const worker = async (w: number) => {
      while (!stop && n < 600) {
        const name = `l-${n++}`;
        // Spread over all three; requests to the dead leader fail and are not acknowledged.
        const target = replicas[(w + n) % 3]!;
        outcomes.push({ name, outcome: await create(target, name, 'load', '1Mi') });
      }
    };
    const load = Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));
    await waitUntil(async () => outcomes.filter((o) => o.outcome.status === 201).length >= 60, 60_000, 'load under way');

    await leader.stop('SIGKILL');
    const { leader: next, ms } = await waitForLeader(survivors, 10_000);
    t.diagnostic(`a new leader after ${ms} ms`);
    assert.ok(ms < 5000, `a new leader after ${ms} ms`);
    assert.ok(survivors.includes(next));
    await sleep(1000);
    stop = true;
    await load;
    replicas = survivors;

    const acknowledged = outcomes.filter((o) => o.outcome.status === 201);
    const unexpected = outcomes.filter((o) => o.outcome.status !== 201 && !o.outcome.lost);
    assert.deepEqual(unexpected.map((o) => o.outcome.status), [], JSON.stringify(unexpected[0]?.outcome.body));
    assert.ok(acknowledged.length >= 60);
    assert.ok(outcomes.some((o) => o.outcome.lost), 'some requests went to the dead leader');

    for (const r of survivors) {
      const volumes = await settled(r, 'load', 'p1');
      const byName = new Map(volumes.map((v) => [v.name, v]));
      for (const { name, outcome } of acknowledged) {
        const v = byName.get(name);
        assert.ok(v, `acknowledged ${name} is in the catalog`);
        assert.equal(v.id, outcome.body.id);
        assert.equal(v.status, 'available');
      }
      // Unacknowledged creates may have made it or stay as `creating` intents; none is doubled.
      assert.equal(new Set(volumes.map((v) => v.name)).size, volumes.length);
    }
    // The creates the dead leader was running are taken over by the new leader (D48): finished or
    // rolled back within seconds, not after the 15 minutes a live replica's intents get.
    await waitUntil(async () => (await listAll(survivors[0]!, '/v1/volumes?service=load')).every((v) => v.status !== 'creating'), 40_000, 'no intent of the dead leader left');
    await settled(survivors[0]!, 'load', 'p1');
    const dirs = new Set(listDir(join(shared, 'load', 'volumes')));
    for (const { outcome } of acknowledged) assert.ok(dirs.has(outcome.body.backendId ?? outcome.body.id), 'backend volume exists');
    // No backend volume without a record, and none shared by two records.
    const records = await listAll(survivors[0]!, '/v1/volumes?service=load');
    const backendIds = records.map((v) => v.backendId ?? v.id);
    assert.equal(new Set(backendIds).size, backendIds.length);
    for (const d of dirs) assert.ok(backendIds.includes(d), `backend volume ${d} has a record`);
  });

  it('etcd stopped during load: writes fail fast with a retryable 503, nothing half-written; all recover when it returns', async () => {
    const outcomes: { outcome: Outcome; ms: number; phase: string }[] = [];
    let phase = 'before';
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const name = `e-${n++}`;
        const t0 = Date.now();
        const outcome = await create(replicas[(w + n) % replicas.length]!, name, 'load', '1Mi');
        outcomes.push({ outcome, ms: Date.now() - t0, phase });
        if (outcome.status !== 201) await sleep(50);
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
    await waitUntil(async () => outcomes.some((o) => o.outcome.status === 201), 30_000, 'load under way');

    // One member down: a quorum remains and writes go on.
    await etcd.members[0]!.stop();
    phase = 'minority-down';
    await waitUntil(async () => outcomes.filter((o) => o.phase === 'minority-down' && o.outcome.status === 201).length >= 10, 30_000, 'writes with one member down');

    // All members down: no quorum.
    await Promise.all(etcd.members.map((m) => m.stop()));
    phase = 'down';
    await waitUntil(async () => outcomes.filter((o) => o.phase === 'down').length >= 12, 60_000, 'requests while etcd is down');
    for (const r of replicas) {
      assert.equal((await api(r, 'GET', '/readyz')).status, 503, 'not ready without etcd');
      // Pools are answered from the replica's memory, marked as possibly stale.
      const pools = await api(r, 'GET', '/v1/pools');
      assert.equal(pools.status, 200);
      assert.match(pools.headers.get('warning') ?? '', /^110 .*may be stale/);
      const res = await api(r, 'POST', '/v1/volumes', { service: 'load', name: 'while-down', size: '1Mi' });
      assert.equal(res.status, 503);
      const err = assertEnvelope(res);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, /store unavailable/);
    }

    phase = 'restarted';
    for (const m of etcd.members) await m.start();
    for (const m of etcd.members) await waitHealthy(m);
    await waitUntil(async () => outcomes.filter((o) => o.phase === 'restarted' && o.outcome.status === 201).length >= 10, 60_000, 'writes succeed again');
    stop = true;
    await load;

    const down = outcomes.filter((o) => o.phase === 'down');
    assert.ok(down.length > 0);
    for (const o of down) {
      assert.ok([201, 503].includes(o.outcome.status), `status ${o.outcome.status}: ${JSON.stringify(o.outcome.body)}`);
      // "Fast": bounded by the store timeout (2 s) for each of the create's two writes, plus slack.
      assert.ok(o.ms < 8000, `a request took ${o.ms} ms while etcd was down`);
    }
    assert.ok(down.some((o) => o.outcome.status === 503));
    for (const o of outcomes.filter((x) => x.outcome.status === 503)) assert.equal(o.outcome.body.error.code, 'UNAVAILABLE');
    assert.deepEqual(outcomes.filter((o) => ![201, 503].includes(o.outcome.status)).map((o) => o.outcome), []);

    const { leader } = await waitForLeader(replicas, 20_000);
    assert.ok(leader);
    // Nothing half-written: usage matches the records on every replica (once its watch caught
    // up), every name record has its volume and back.
    for (const r of replicas) await settled(r, 'load', 'p1');
    const volumes = await settled(replicas[0]!, 'load', 'p1');
    const store = await listAll<{ key: string; value: any }>(replicas[0]!, '/v1/store?prefix=volume-names/load/&limit=10000');
    assert.deepEqual(store.map((r) => r.value.id).sort(), volumes.map((v) => v.id).sort());
    for (const o of outcomes.filter((x) => x.outcome.status === 201)) {
      assert.equal(volumes.find((v) => v.id === o.outcome.body.id)?.status, 'available');
    }
    for (const r of replicas) assert.equal((await api(r, 'GET', '/v1/pools')).headers.get('warning'), null, 'fresh again');
  });

  it('a pool an agent contributes through one replica joins the service on every replica', async () => {
    const root = tempDir('ha-agent');
    const mountDir = join(root, 'mounts');
    mkdirSync(mountDir, { recursive: true });
    const pools = [{ service: 'burst', name: 'ha-n1-disk', path: join(root, 'disk') }];
    const agent = startAgent(replicas[0]!, { nodeId: 'ha-n1', mountDir, configDir: root, config: { pools } });
    try {
      await nodeReady(replicas[0]!, 'ha-n1');
      for (const r of replicas) {
        await waitUntil(async () => (await api(r, 'GET', '/v1/pools?service=burst')).body.items.some((p: any) => p.name === 'ha-n1-disk' && p.node === 'ha-n1'), 10_000, `${r.url} knows the node's pool`);
      }
    } finally {
      await agent.kill('SIGKILL');
      fenceGuardOf(mountDir).kill();
      await cleanupHostDir(root);
    }
  });
});

describe('a server on etcd over TLS with client certificates and etcd auth', { timeout: 120_000 }, () => {
  it('reads the PEM files and credentials from its configuration and serves', async () => {
    const dir = tempDir('etcd-tls');
    const certs = makeTestCertificates(dir);
    const cluster = await startEtcdCluster({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
    const credentials = { rootCertificate: readFileSync(certs.ca), certChain: readFileSync(certs.clientCert), privateKey: readFileSync(certs.clientKey) };
    const admin = new Etcd3({ hosts: cluster.endpoints, credentials });
    try {
      await admin.role('root').create();
      await admin.user('root').create('root-password');
      await admin.user('root').addRole('root');
      await admin.user('polly').create('polly-password-1');
      await admin.role('polly').create();
      await admin.role('polly').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/polly' }) });
      await admin.user('polly').addRole('polly');
      await admin.auth.authEnable();
      const [server] = await startReplicas({
        endpoints: cluster.endpoints, replicas: 1, prefix: '/polly/',
        services: { default: { driver: 'dir', pools: [{ name: 'p1', path: join(dir, 'pool'), capacity: '1Gi' }] } },
        store: { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, auth: { username: 'polly', password: 'polly-password-1' } },
      });
      const res = await api(server!, 'POST', '/v1/volumes', { service: 'default', name: 'over-tls', size: '1Mi' });
      assert.equal(res.status, 201, res.text);
      await waitForLeader([server!]);
      await server!.stop();
    } finally {
      admin.close();
      await cluster.stop();
    }
  });
});

describe('a replica whose etcd cannot be reached', () => {
  it('does not start: it exits at once naming the store', async () => {
    const dir = tempDir('no-etcd');
    const file = join(dir, 'config.yml');
    writeFileSync(file, 'store: { type: etcd, endpoints: [http://127.0.0.1:1], timeout: 1s }\n');
    const t0 = Date.now();
    const res = await cliRun(null, ['server', '--data-dir', dir, '--host', '127.0.0.1:0', '--config', file], { timeoutMs: 20_000 });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /store unavailable \(etcd is unreachable\)/);
    assert.ok(Date.now() - t0 < 15_000);
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
}

