/**
 * Nodes and agents end to end (issue 6): a real server and real `polly agent` processes on this
 * machine (different node ids, separate mount dirs, one shared dir pool), real bind mounts.
 * Registration with node tokens, onboarding of a node's own pool, failover after SIGKILL (never
 * two writable holders; bench/failover.bench.ts times it against the 20 s target), the fenced
 * agent that comes back (and one that was only frozen), and reconnection after a server restart.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { cleanupHostDir, findmnt } from '../src/drivers/node/testing/host-cleanup.js';
import { clusterRegistry, nodeReady, startAgent, waitFor, watchHolders, type AgentProcess, type Cluster } from './support/agent-process.js';
import { api, bearer, cleanup, cliRun, startPollyServer, startPollyServerOn, tempDir, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 180_000 };
const ADMIN = 'admin-token-0123456789';
const NODE_TOKEN = 'node-token-0123456789abc';

after(cleanup);

const clusters = clusterRegistry();
afterEach(clusters.teardown);

async function cluster(nodes: { lease: string; grace: string }): Promise<Cluster> {
  const root = tempDir('agents');
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  const config = {
    server: { nodeId: 'srv' },
    auth: { tokens: [{ name: 'admin', token: ADMIN, role: 'admin' }] },
    nodes: { ...nodes, tokens: [{ name: 'nodes', token: NODE_TOKEN }] },
    services: { shared: { driver: 'dir', pools: [{ name: 'shared', path: join(root, 'pool') }] } },
  };
  const server = await startPollyServer({ dataDir, config });
  const c = { server, root, config, agents: [] as AgentProcess[] };
  clusters.add(c);
  return c;
}

function agent(c: Cluster, nodeId: string, extra: { labels?: Record<string, string>; token?: string; config?: Record<string, unknown> } = {}): AgentProcess {
  const mountDir = join(c.root, `mounts-${nodeId}`);
  mkdirSync(mountDir, { recursive: true });
  const a = startAgent(c.server, { nodeId, mountDir, token: extra.token ?? NODE_TOKEN, configDir: c.root, ...extra });
  c.agents.push(a);
  return a;
}

const call = (c: Cluster | RunningServer, method: string, path: string, body?: unknown) =>
  api('server' in c ? c.server : c, method, path, body, bearer(ADMIN));

async function createVolume(c: Cluster, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await call(c, 'POST', '/v1/volumes', { service: 'shared', name, size: '1Mi', ...extra });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

async function attach(c: Cluster, id: string, nodeId: string) {
  return call(c, 'POST', `/v1/volumes/${id}/attachments`, { nodeId });
}

async function events(c: Cluster, query = ''): Promise<{ type: string; nodeId?: string; volumeId?: string; at: string; message: string }[]> {
  const r = await call(c, 'GET', `/v1/events${query}`);
  assert.equal(r.status, 200, r.text);
  return r.body.items;
}

describe('agents', LONG, () => {
  it('register with a node token (labels, pools contributed from their own config), refuse a bad token, show in node ls/inspect and pool ls', async () => {
    const c = await cluster({ lease: '3s', grace: '2s' });
    const localPool = join(c.root, 'a-disk');
    agent(c, 'node-a', { labels: { zone: 'z1' }, config: { pools: [{ service: 'shared', name: 'a-disk', path: localPool, types: ['ssd'] }] } });
    agent(c, 'node-b', { labels: { zone: 'z2' } });
    const intruder = agent(c, 'node-x', { token: 'not-the-node-token-000' });

    const a = await nodeReady(c.server, 'node-a', ADMIN);
    await nodeReady(c.server, 'node-b', ADMIN);
    assert.deepEqual(a.labels, { zone: 'z1' });
    assert.deepEqual(a.pools.map((p: { name: string }) => p.name), ['a-disk']);
    const impostor = agent(c, 'srv');
    await waitFor('the refused agent to log its refusal', async () => (/refused the agent/.test(intruder.stdout() + intruder.stderr()) ? true : undefined));
    await waitFor('an agent with the server\'s node id to be refused', async () => (/server's own node/.test(impostor.stdout()) ? true : undefined));
    assert.equal((await call(c, 'GET', '/v1/nodes/srv')).body.inProcess, true);
    const listed = await call(c, 'GET', '/v1/nodes');
    assert.deepEqual(listed.body.items.map((n: { id: string }) => n.id).sort(), ['node-a', 'node-b', 'srv']);
    assert.equal((await api(c.server, 'GET', '/v1/nodes')).status, 401, 'nodes need the admin token');

    // The CLI: node ls and inspect, pool ls with the node's pool.
    const ls = await cliRun(c.server, ['node', 'ls', '--format', 'json'], { token: ADMIN });
    assert.equal(ls.code, 0, ls.stderr);
    const rows = JSON.parse(ls.stdout) as { id: string; state: string; connected: boolean }[];
    assert.ok(rows.every((n) => n.state === 'ready' && n.connected), ls.stdout);
    const pools = JSON.parse((await cliRun(c.server, ['pool', 'ls', '--format', 'json'], { token: ADMIN })).stdout) as { id: string; node?: string; totalBytes: number }[];
    const aDisk = pools.find((p) => p.id === 'shared/a-disk');
    assert.ok(aDisk, JSON.stringify(pools));
    assert.equal(aDisk.node, 'node-a');
    assert.ok(aDisk.totalBytes > 0, 'the live capacity of the node pool was read through its agent');

    // Placement uses the node's pool at once; the agent of the node creates the volume there.
    const id = await createVolume(c, 'on-a', { type: 'ssd', nodes: ['node-a'] });
    const v = (await call(c, 'GET', `/v1/volumes/${id}`)).body;
    assert.equal(v.pool, 'shared/a-disk');
    assert.ok(existsSync(join(localPool, 'volumes', id)), 'the volume directory is in the node pool');
    const attached = await cliRun(c.server, ['volume', 'attach', id, '--node', 'node-a', '--format', 'json'], { token: ADMIN });
    assert.equal(attached.code, 0, attached.stderr);
    assert.equal(JSON.parse(attached.stdout).attachments[0].mountPath, join(c.root, 'mounts-node-a', id));
    assert.ok(await findmnt(join(c.root, 'mounts-node-a', id)), 'mounted on node-a');

    const inspect = await cliRun(c.server, ['node', 'inspect', 'node-a', '--format', 'json'], { token: ADMIN });
    assert.deepEqual(JSON.parse(inspect.stdout).volumes.map((x: { id: string }) => x.id), [id]);

    // Cordon: no new attachments; drain: detaches through the agent.
    const other = await createVolume(c, 'shared-one');
    assert.equal((await cliRun(c.server, ['node', 'cordon', 'node-b'], { token: ADMIN })).code, 0);
    const refused = await cliRun(c.server, ['volume', 'attach', '--volumeid', other, '--node', 'node-b'], { token: ADMIN });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /node node-b is cordoned; no new attachments \(FAILED_PRECONDITION\)/);
    const drained = await cliRun(c.server, ['node', 'drain', 'node-a', '--format', 'json'], { token: ADMIN });
    assert.equal(drained.code, 0, drained.stderr);
    assert.deepEqual(JSON.parse(drained.stdout).volumes, []);
    assert.equal(await findmnt(join(c.root, 'mounts-node-a', id)), undefined, 'drain unmounted it');
    const timeline = await cliRun(c.server, ['events', '--node', 'node-a', '--format', 'json'], { token: ADMIN });
    assert.deepEqual(
      (JSON.parse(timeline.stdout) as { type: string }[]).map((e) => e.type).filter((t) => t !== 'node.registered' && t !== 'node.ready'),
      ['volume.attached', 'node.cordoned', 'volume.detached', 'node.drained'],
    );
  });

  it('fails a volume over after a SIGKILL, never held by two nodes; the killed agent releases it when it returns', async () => {
    const c = await cluster({ lease: '2s', grace: '1s' });
    // Without its fence guard (D82; test/hello-polly.test.ts shows the guard), so the mount the
    // SIGKILL leaves behind is there for the returning agent to release (D75).
    const a = agent(c, 'node-a', { config: { fenceGuard: false } });
    agent(c, 'node-b');
    await nodeReady(c.server, 'node-a', ADMIN);
    await nodeReady(c.server, 'node-b', ADMIN);
    const id = await createVolume(c, 'precious');
    assert.equal((await attach(c, id, 'node-a')).status, 200);
    const onA = join(a.mountDir, id);
    writeFileSync(join(onA, 'myfile'), 'hello from a');

    const second = await attach(c, id, 'node-b');
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.error.details.heldBy, 'node-a');

    // Watch the catalog all along: at no moment two holders.
    const watcher = watchHolders(c.server, id, ADMIN);

    await a.kill('SIGKILL');
    const early = await call(c, 'DELETE', `/v1/volumes/${id}/attachments/node-a`);
    assert.equal(early.status, 503, `a node whose agent is gone cannot confirm a detach: ${early.text}`);
    const moved = await waitFor('the volume to attach on node-b', async () => {
      const r = await attach(c, id, 'node-b');
      return r.status === 200 ? r.body : undefined;
    }, 60_000, 100); // how fast is for bench/failover.bench.ts to say; here: that it happens
    const maxHolders = await watcher.stop();
    assert.equal(maxHolders, 1, 'never two attachments');
    assert.deepEqual(moved.attachments.map((x: { nodeId: string }) => x.nodeId), ['node-b']);
    assert.equal(readFileSync(join(c.root, 'mounts-node-b', id, 'myfile'), 'utf8'), 'hello from a');

    const timeline = (await events(c, `?volume=${id}`)).concat(await events(c, '?node=node-a'));
    timeline.sort((x, y) => x.at.localeCompare(y.at));
    const order = (type: string, node: string) => timeline.findIndex((e) => e.type === type && e.nodeId === node);
    assert.ok(order('node.unreachable', 'node-a') >= 0 && order('node.unreachable', 'node-a') < order('node.fenced', 'node-a'), JSON.stringify(timeline));
    assert.ok(order('volume.revoked', 'node-a') < order('volume.attached', 'node-b'), JSON.stringify(timeline));

    // The killed agent's mount is still in the kernel; when it returns it releases it before it is ready.
    assert.ok(await findmnt(onA), 'SIGKILL leaves the mount behind');
    const back = agent(c, 'node-a', { config: { fenceGuard: false } });
    await nodeReady(c.server, 'node-a', ADMIN);
    assert.equal(await findmnt(onA), undefined, 'the returning agent unmounted what it was fenced from');
    assert.ok(await findmnt(join(c.root, 'mounts-node-b', id)), 'node-b still has it');
    const released = await events(c, '?node=node-a&type=volume.released');
    assert.equal(released.length, 1, JSON.stringify(released));
    assert.ok(back.pid > 0);
  });

  it('an agent frozen past its lease is fenced; when it thaws it releases the volume on its own and is ready again', async () => {
    const c = await cluster({ lease: '2s', grace: '1s' });
    const a = agent(c, 'node-a');
    agent(c, 'node-b');
    await nodeReady(c.server, 'node-a', ADMIN);
    await nodeReady(c.server, 'node-b', ADMIN);
    const id = await createVolume(c, 'frozen');
    assert.equal((await attach(c, id, 'node-a')).status, 200);
    process.kill(a.pid, 'SIGSTOP');
    try {
      await waitFor('node-a fenced', async () => ((await call(c, 'GET', '/v1/nodes/node-a')).body.state === 'fenced' ? true : undefined));
      // The fence marks the node first and revokes its attachments next (D73): retry until then.
      await waitFor('the volume to attach on node-b', async () => ((await attach(c, id, 'node-b')).status === 200 ? true : undefined), 20_000, 100);
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }
    await waitFor('node-a to release the volume', async () => ((await findmnt(join(a.mountDir, id))) === undefined ? true : undefined));
    await nodeReady(c.server, 'node-a', ADMIN);
    const v = (await call(c, 'GET', `/v1/volumes/${id}`)).body;
    assert.deepEqual(v.attachments.map((x: { nodeId: string }) => x.nodeId), ['node-b']);
  });

  it('agents reconnect after a server restart and keep their mounts; attach and detach work again', async () => {
    const c = await cluster({ lease: '6s', grace: '6s' });
    const a = agent(c, 'node-a');
    await nodeReady(c.server, 'node-a', ADMIN);
    const id = await createVolume(c, 'survivor');
    assert.equal((await attach(c, id, 'node-a')).status, 200);
    const mount = join(a.mountDir, id);
    writeFileSync(join(mount, 'f'), 'still here');

    const { port, dataDir } = c.server;
    await c.server.stop('SIGTERM');
    c.server = await startPollyServerOn(port, { dataDir, config: c.config });
    const node = await nodeReady(c.server, 'node-a', ADMIN);
    assert.equal(node.state, 'ready');
    assert.ok(await findmnt(mount), 'the mount stayed through the restart');
    assert.equal(readFileSync(join(mount, 'f'), 'utf8'), 'still here');
    const kinds = (await events(c, '?node=node-a')).map((e) => e.type);
    assert.ok(!kinds.includes('volume.released') && !kinds.includes('reconcile.repair'), kinds.join(', '));

    const detached = await call(c, 'DELETE', `/v1/volumes/${id}/attachments/node-a`);
    assert.equal(detached.status, 200, detached.text);
    assert.equal(await findmnt(mount), undefined);
    assert.equal((await attach(c, id, 'node-a')).status, 200);
    assert.ok(await findmnt(mount));
  });
});
