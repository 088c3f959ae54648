/**
 * Pools that agents contribute (D76, D14–D17), end to end over a real server and real `polly
 * agent` processes (root: bind mounts, loop devices, ext4): snapshots, clones and expansion on a
 * node's pool done by that node's agent (the image volume also grows where it is mounted), the
 * cross-node clone refused, UNAVAILABLE without half-made records while the agent is away, and
 * the intents a server crash left on a node's pool settled through its agent once it is back.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { cleanupHostDir, findmnt } from '../src/drivers/node/testing/host-cleanup.js';
import { clusterRegistry, nodeReady, startAgent, waitFor, type AgentProcess, type Cluster } from './support/agent-process.js';
import { csiClient } from './support/csi-client.js';
import { mountCap } from './support/csi-server.js';
import { api, bearer, cleanup, startPollyServer, startPollyServerOn, tempDir, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 240_000 };
const ADMIN = 'admin-token-0123456789';
const NODE_TOKEN = 'node-token-0123456789abc';

after(cleanup);

const clusters = clusterRegistry();
afterEach(clusters.teardown);

async function cluster(lease = '6s'): Promise<Cluster> {
  const root = tempDir('node-pools');
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  const config = {
    server: { nodeId: 'srv' },
    auth: { tokens: [{ name: 'admin', token: ADMIN, role: 'admin' }] },
    nodes: { lease, grace: lease, tokens: [{ name: 'nodes', token: NODE_TOKEN }] },
    services: {
      files: { driver: 'dir', pools: [{ name: 'central', path: join(root, 'central') }] },
      blocks: { driver: 'image', defaults: { size: '64Mi' }, pools: [{ name: 'central-img', path: join(root, 'central-img') }] },
    },
    csi: { defaultService: 'files' },
  };
  const server = await startPollyServer({ dataDir, config });
  const c = { server, root, config, agents: [] as AgentProcess[] };
  clusters.add(c);
  return c;
}

/** An agent contributing `<node>-disk` to files (and `<node>-img` to blocks), both of type `local`. */
function agent(c: Cluster, nodeId: string): AgentProcess {
  const mountDir = join(c.root, `mounts-${nodeId}`);
  mkdirSync(mountDir, { recursive: true });
  const pools = [
    { service: 'files', name: `${nodeId}-disk`, path: join(c.root, `${nodeId}-disk`), types: ['local'] },
    { service: 'blocks', name: `${nodeId}-img`, path: join(c.root, `${nodeId}-img`), types: ['local'] },
  ];
  const a = startAgent(c.server, { nodeId, mountDir, token: NODE_TOKEN, configDir: c.root, config: { pools } });
  c.agents.push(a);
  return a;
}

const call = (c: Cluster, method: string, path: string, body?: unknown) => api(c.server, method, path, body, bearer(ADMIN));

async function create(c: Cluster, body: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await call(c, 'POST', '/v1/volumes', { service: 'files', size: '1Mi', ...body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function snapshot(c: Cluster, volumeId: string, name: string): Promise<Record<string, any>> {
  const r = await call(c, 'POST', `/v1/volumes/${volumeId}/snapshots`, { name });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function mounted(c: Cluster, id: string, nodeId: string): Promise<string> {
  const r = await call(c, 'POST', `/v1/volumes/${id}/attachments`, { nodeId });
  assert.equal(r.status, 200, r.text);
  const path = r.body.attachments.find((a: { nodeId: string }) => a.nodeId === nodeId).mountPath as string;
  assert.ok(await findmnt(path), `${id} is mounted on ${nodeId}`);
  return path;
}

async function detach(c: Cluster, id: string, nodeId: string): Promise<void> {
  const r = await call(c, 'DELETE', `/v1/volumes/${id}/attachments/${nodeId}`);
  assert.equal(r.status, 200, r.text);
}

const status = async (c: Cluster, path: string): Promise<string | number> => {
  const r = await call(c, 'GET', path);
  return r.status === 200 ? (r.body.status as string) : r.status;
};

describe('node pools', LONG, () => {
  it('snapshot, clone from snapshot and from volume, snapshot delete on a node pool, by its agent; capabilities in pool ls; cross-node clones refused', async () => {
    const c = await cluster();
    agent(c, 'node-a');
    agent(c, 'node-b');
    await nodeReady(c.server, 'node-a', ADMIN);
    await nodeReady(c.server, 'node-b', ADMIN);
    const aDisk = join(c.root, 'node-a-disk');

    const pools = (await call(c, 'GET', '/v1/pools')).body.items as { id: string; capabilities?: Record<string, boolean> }[];
    assert.deepEqual(pools.find((p) => p.id === 'files/node-a-disk')?.capabilities, { snapshot: true, clone: true, expand: true, block: false, nodeLocal: false });
    assert.equal(pools.find((p) => p.id === 'blocks/node-b-img')?.capabilities?.block, true);
    assert.equal(pools.find((p) => p.id === 'files/central')?.capabilities, undefined, 'server pools keep the service\'s capabilities');

    const v = await create(c, { name: 'origin', type: 'local', nodes: ['node-a'] });
    assert.equal(v.pool, 'files/node-a-disk');
    const path = await mounted(c, v.id, 'node-a');
    writeFileSync(join(path, 'myfile'), 'written on node-a');

    const snap = await snapshot(c, v.id, 'origin-snap');
    assert.equal(snap.status, 'ready');
    assert.equal(snap.pool, 'files/node-a-disk');
    assert.ok(existsSync(join(aDisk, 'snapshots', snap.id)), 'the snapshot is in the node\'s pool');
    writeFileSync(join(path, 'myfile'), 'changed after the snapshot');

    const restored = await create(c, { name: 'restored', source: { snapshot: snap.id } });
    assert.equal(restored.pool, 'files/node-a-disk', 'a restore goes to the snapshot\'s pool');
    assert.equal(readFileSync(join(await mounted(c, restored.id, 'node-a'), 'myfile'), 'utf8'), 'written on node-a');
    const cloned = await create(c, { name: 'cloned', source: { volume: v.id } });
    assert.equal(cloned.pool, 'files/node-a-disk');
    assert.equal(readFileSync(join(await mounted(c, cloned.id, 'node-a'), 'myfile'), 'utf8'), 'changed after the snapshot');

    // Across nodes: the clone would have to land on node-b, where the source is not.
    const across = await call(c, 'POST', '/v1/volumes', { service: 'files', name: 'across', source: { volume: v.id }, nodes: ['node-b'] });
    assert.equal(across.status, 409, across.text);
    assert.equal(across.body.error.code, 'FAILED_PRECONDITION');
    assert.match(across.body.error.message, /source's pool.*pool files\/node-a-disk is on node node-a, wanted node-b; Polly does not copy volumes between pools or nodes/, across.text);
    const fromSnap = await call(c, 'POST', '/v1/volumes', { service: 'files', name: 'across', source: { snapshot: snap.id }, nodes: ['node-b'] });
    assert.equal(fromSnap.body.error?.code, 'FAILED_PRECONDITION', fromSnap.text);
    assert.equal((await call(c, 'GET', '/v1/volumes?name=across')).body.items.length, 0, 'no record of the refused clone');

    const listed = (await call(c, 'GET', `/v1/snapshots?volume=${v.id}`)).body.items.map((s: { id: string }) => s.id);
    assert.deepEqual(listed, [snap.id]);
    assert.equal((await call(c, 'DELETE', `/v1/snapshots/${snap.id}`)).status, 200);
    assert.equal(existsSync(join(aDisk, 'snapshots', snap.id)), false, 'the agent removed the snapshot from its pool');
    assert.equal((await call(c, 'GET', `/v1/snapshots/${snap.id}`)).status, 404);

    // Deleting the clones goes through the agent too.
    for (const id of [restored.id, cloned.id]) {
      await detach(c, id, 'node-a');
      assert.equal((await call(c, 'DELETE', `/v1/volumes/${id}`)).status, 200);
      assert.equal(existsSync(join(aDisk, 'volumes', id)), false);
    }
  });

  it('expands an image volume on a node pool through CSI: the agent grows the image and, where it is mounted, the filesystem', async () => {
    const c = await cluster();
    agent(c, 'node-a');
    await nodeReady(c.server, 'node-a', ADMIN);
    const v = await create(c, { service: 'blocks', name: 'growing', size: '64Mi', type: 'local', nodes: ['node-a'] });
    assert.equal(v.pool, 'blocks/node-a-img');
    const path = await mounted(c, v.id, 'node-a');
    writeFileSync(join(path, 'keep'), 'kept');
    const before = statfsSync(path);

    const csi = csiClient(`unix://${join(c.server.dataDir, 'csi.sock')}`);
    try {
      const res = await csi.controller.ControllerExpandVolume!({ volume_id: v.id, capacity_range: { required_bytes: 128 * 1024 * 1024 }, volume_capability: mountCap() });
      assert.equal(Number(res.capacity_bytes), 128 * 1024 * 1024);
    } finally {
      csi.close();
    }
    const bytes = (s: { blocks: number; bsize: number }) => s.blocks * s.bsize;
    const online = bytes(statfsSync(path)) > bytes(before) * 1.5;
    // Where the kernel refuses an online resize (no CAP_SYS_RESOURCE) the agent says so and the
    // filesystem grows at the next stage; either way it has grown once the volume is mounted again.
    if (!online) await waitFor('the agent to report the refused online resize', async () => (/grows when it is next staged/.test(c.agents[0]!.stdout() + c.agents[0]!.stderr()) ? true : undefined), 5000);
    await detach(c, v.id, 'node-a');
    const again = await mounted(c, v.id, 'node-a');
    assert.ok(bytes(statfsSync(again)) > bytes(before) * 1.5, `the filesystem grew (online: ${online}): ${bytes(before)} → ${bytes(statfsSync(again))}`);
    assert.equal(readFileSync(join(again, 'keep'), 'utf8'), 'kept');
    const got = (await call(c, 'GET', `/v1/volumes/${v.id}`)).body;
    assert.equal(got.size, 128 * 1024 * 1024);
    assert.ok(existsSync(join(c.root, 'node-a-img')), 'the image lives in the node pool');
    const pool = (await call(c, 'GET', '/v1/pools?service=blocks')).body.items.find((p: { id: string }) => p.id === 'blocks/node-a-img');
    assert.equal(pool.provisionedBytes, 128 * 1024 * 1024);
    await detach(c, v.id, 'node-a');
  });

  it('a node whose agent is away: snapshot, clone and expand answer UNAVAILABLE and leave no record; all work again when it is back', async () => {
    const c = await cluster();
    let a = agent(c, 'node-a');
    await nodeReady(c.server, 'node-a', ADMIN);
    const v = await create(c, { name: 'lonely', type: 'local', nodes: ['node-a'] });
    await a.kill('SIGKILL');
    await waitFor('node-a disconnected', async () => ((await call(c, 'GET', '/v1/nodes/node-a')).body.connected === false ? true : undefined));

    const snap = await call(c, 'POST', `/v1/volumes/${v.id}/snapshots`, { name: 'while-away' });
    assert.equal(snap.status, 503, snap.text);
    assert.equal(snap.body.error.code, 'UNAVAILABLE');
    assert.equal((await call(c, 'GET', `/v1/snapshots?volume=${v.id}`)).body.items.length, 0, 'no snapshot record');
    const clone = await call(c, 'POST', '/v1/volumes', { service: 'files', name: 'clone-while-away', source: { volume: v.id } });
    assert.equal(clone.status, 503, clone.text);
    assert.equal((await call(c, 'GET', '/v1/volumes?name=clone-while-away')).body.items.length, 0, 'no clone record');
    const pool = () => call(c, 'GET', '/v1/pools?service=files').then((r) => r.body.items.find((p: { id: string }) => p.id === 'files/node-a-disk'));
    assert.equal((await pool()).reservedBytes, 0, 'the clone\'s reservation was given back');

    const csi = csiClient(`unix://${join(c.server.dataDir, 'csi.sock')}`);
    try {
      await assert.rejects(csi.controller.ControllerExpandVolume!({ volume_id: v.id, capacity_range: { required_bytes: 2 * 1024 * 1024 } }), (e: { code: number }) => e.code === 14); // UNAVAILABLE
      assert.equal((await call(c, 'GET', `/v1/volumes/${v.id}`)).body.size, 1024 * 1024, 'the size was put back');
      assert.equal((await pool()).provisionedBytes, 1024 * 1024);

      a = agent(c, 'node-a');
      await nodeReady(c.server, 'node-a', ADMIN);
      await snapshot(c, v.id, 'when-back');
      await create(c, { name: 'clone-when-back', source: { volume: v.id } });
      const res = await csi.controller.ControllerExpandVolume!({ volume_id: v.id, capacity_range: { required_bytes: 2 * 1024 * 1024 } });
      assert.equal(Number(res.capacity_bytes), 2 * 1024 * 1024);
    } finally {
      csi.close();
    }
  });

  it('intents a server crash left on a node pool wait while its agent is away and are finished through it when it is back', async () => {
    const c = await cluster();
    const a = agent(c, 'node-a');
    await nodeReady(c.server, 'node-a', ADMIN);
    const aDisk = join(c.root, 'node-a-disk');
    const keep = await create(c, { name: 'keep', type: 'local', nodes: ['node-a'] });
    const doomed = await create(c, { name: 'doomed', type: 'local', nodes: ['node-a'] });

    // The agent freezes; the server starts a delete, a create and a snapshot on its pool, then dies.
    process.kill(a.pid, 'SIGSTOP');
    const inFlight = [
      call(c, 'DELETE', `/v1/volumes/${doomed.id}`),
      call(c, 'POST', '/v1/volumes', { service: 'files', name: 'newborn', size: '1Mi', type: 'local', nodes: ['node-a'] }),
      call(c, 'POST', `/v1/volumes/${keep.id}/snapshots`, { name: 'keep-snap' }),
    ].map((p) => p.catch(() => undefined));
    const newborn = await waitFor('the three intents', async () => {
      const [d, n, s] = await Promise.all([
        status(c, `/v1/volumes/${doomed.id}`), call(c, 'GET', '/v1/volumes?name=newborn'), call(c, 'GET', `/v1/snapshots?volume=${keep.id}`),
      ]);
      return d === 'deleting' && n.body.items[0]?.status === 'creating' && s.body.items[0]?.status === 'creating' ? { id: n.body.items[0].id as string, snap: s.body.items[0].id as string } : undefined;
    });
    const { port, dataDir } = c.server;
    await c.server.stop('SIGKILL');
    await Promise.all(inFlight);
    c.server = await startPollyServerOn(port, { dataDir, config: c.config });

    // Away: the intents wait, reported by the doctor; the pool is listed, with no capacity.
    const doctor = await call(c, 'POST', '/v1/doctor');
    assert.equal(doctor.status, 200, doctor.text);
    assert.deepEqual([...doctor.body.nodes.waiting].sort(), [`${doomed.id}@node-a`, `${newborn.id}@node-a`, `${newborn.snap}@node-a`].sort());
    assert.equal(await status(c, `/v1/volumes/${doomed.id}`), 'deleting');
    assert.equal(await status(c, `/v1/volumes/${newborn.id}`), 'creating');
    const pool = (await call(c, 'GET', '/v1/pools?service=files')).body.items.find((p: { id: string }) => p.id === 'files/node-a-disk');
    assert.equal(pool?.node, 'node-a', 'the node pool is back at start, before its agent');
    assert.equal(pool.totalBytes, 0);

    // The agent thaws: it finishes what it had received, reconnects, and the server settles the intents through it.
    process.kill(a.pid, 'SIGCONT');
    await nodeReady(c.server, 'node-a', ADMIN, 30_000);
    await waitFor('the intents settled', async () => {
      const [d, n, s] = await Promise.all([status(c, `/v1/volumes/${doomed.id}`), status(c, `/v1/volumes/${newborn.id}`), status(c, `/v1/snapshots/${newborn.snap}`)]);
      return d === 404 && n === 'available' && s === 'ready' ? true : undefined;
    });
    assert.equal(existsSync(join(aDisk, 'volumes', doomed.id)), false);
    assert.ok(existsSync(join(aDisk, 'volumes', newborn.id)));
    assert.ok(existsSync(join(aDisk, 'snapshots', newborn.snap)));
    // Each repair's event is written after the record it repaired: wait for all three.
    const expected = [`${doomed.id}:deleted`, `${newborn.id}:finished`, `${newborn.snap}:finished`].sort();
    let repairs: string[] = [];
    await waitFor('the repair events', async () => {
      repairs = (await call(c, 'GET', '/v1/events?type=reconcile.repair&node=node-a')).body.items.map((e: { volumeId: string; details: { repair: string } }) => `${e.volumeId}:${e.details.repair}`).sort();
      return repairs.length >= expected.length ? true : undefined;
    });
    assert.deepEqual(repairs, expected);
    const after = (await call(c, 'POST', '/v1/doctor')).body.nodes;
    assert.deepEqual(after.waiting, []);
    const usage = (await call(c, 'GET', '/v1/pools?service=files')).body.items.find((p: { id: string }) => p.id === 'files/node-a-disk');
    assert.equal(usage.volumes, 2);
    assert.equal(usage.reservedBytes, 0);
  });

  it('a create the agent never received is rolled back when the node returns', async () => {
    const c = await cluster();
    const a = agent(c, 'node-a');
    await nodeReady(c.server, 'node-a', ADMIN);
    process.kill(a.pid, 'SIGSTOP');
    const pending = call(c, 'POST', '/v1/volumes', { service: 'files', name: 'never', size: '1Mi', type: 'local', nodes: ['node-a'] }).catch(() => undefined);
    const id = await waitFor('the create intent', async () => {
      const r = await call(c, 'GET', '/v1/volumes?name=never');
      return r.body.items[0]?.status === 'creating' ? (r.body.items[0].id as string) : undefined;
    });
    const { port, dataDir } = c.server;
    await c.server.stop('SIGKILL');
    await pending;
    await a.kill('SIGKILL'); // dies frozen: the operation is never run
    c.server = await startPollyServerOn(port, { dataDir, config: c.config });
    assert.equal(await status(c, `/v1/volumes/${id}`), 'creating');

    agent(c, 'node-a');
    await nodeReady(c.server, 'node-a', ADMIN);
    await waitFor('the intent rolled back', async () => ((await status(c, `/v1/volumes/${id}`)) === 404 ? true : undefined));
    assert.equal(existsSync(join(c.root, 'node-a-disk', 'volumes', id)), false);
    const pool = (await call(c, 'GET', '/v1/pools?service=files')).body.items.find((p: { id: string }) => p.id === 'files/node-a-disk');
    assert.equal(pool.volumes, 0);
    assert.equal(pool.reservedBytes, 0);
    // The name is free again.
    await create(c, { name: 'never', type: 'local', nodes: ['node-a'] });
  });
});
