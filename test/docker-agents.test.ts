/**
 * The Docker volume plugin served by node agents (D80), over the plugin protocol on each agent's
 * own unix socket (no Docker engine here: test/hello-polly.test.ts runs the real one): a real
 * server and two real `polly agent` processes, one shared dir pool, real bind mounts (root).
 *   - both nodes see the same volumes (one identity, `docker`); Mount on a node mounts the volume
 *     on that node (its agent's mount dir); RWO: the other node's Mount is refused naming the
 *     holder; Unmount by the last holder unmounts and detaches; Remove from either node;
 *   - a node token bound to a node id (nodes.tokens[].nodes) cannot register as another node;
 *   - an agent that cannot reach its server answers Docker with UNAVAILABLE, never hangs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { cleanupHostDir, findmnt } from '../src/drivers/node/testing/host-cleanup.js';
import { nodeReady, startAgent, startNodesServer, waitFor, type AgentProcess } from './support/agent-process.js';
import { pluginPost } from './support/front-doors.js';
import { api, bearer, cleanup, freePort, tempDir, type RunningServer } from './support/server-process.js';

const LONG = { timeout: 120_000 };
const ADMIN = 'admin-token-0123456789';
const NODE_TOKEN = 'node-token-0123456789abc';
const NODE0_TOKEN = 'node0-only-token-0123456789';

after(cleanup);

let root: string | undefined;
const agents: AgentProcess[] = [];
let server: RunningServer | undefined;

afterEach(async () => {
  for (const a of agents.splice(0)) await a.kill('SIGKILL');
  await server?.stop('SIGKILL');
  server = undefined;
  if (root) await cleanupHostDir(root);
  root = undefined;
});

async function start(): Promise<RunningServer> {
  root = tempDir('docker-agents');
  server = await startNodesServer(root, ADMIN, {
    nodes: { lease: '3s', grace: '2s', tokens: [{ name: 'rack', token: NODE_TOKEN }, { name: 'node0', token: NODE0_TOKEN, nodes: ['node0'] }] },
    services: { shared: { driver: 'dir', pools: [{ name: 'shared', path: join(root, 'pool') }] } },
  });
  return server;
}

function agent(url: string, nodeId: string, token = NODE_TOKEN): { agent: AgentProcess; socket: string } {
  const mountDir = join(root!, `mounts-${nodeId}`);
  mkdirSync(mountDir, { recursive: true });
  const socket = join(root!, `${nodeId}.sock`);
  const a = startAgent(url, { nodeId, mountDir, token, configDir: root!, config: { docker: { socket } } });
  agents.push(a);
  return { agent: a, socket };
}

const errOf = (r: { status: number; body: any; text: string }): string => {
  assert.equal(r.status, 500, r.text);
  assert.equal(typeof r.body.Err, 'string', r.text);
  return r.body.Err as string;
};

describe('Docker plugin served by node agents', LONG, () => {
  it('mounts on the calling node, refuses a second node while one holds the volume, unmounts and detaches on the last Unmount', async () => {
    const s = await start();
    const n0 = agent(s.url, 'node0');
    const n1 = agent(s.url, 'node1');
    await nodeReady(s, 'node0', ADMIN);
    await nodeReady(s, 'node1', ADMIN);
    const post0 = (m: string, b?: unknown) => pluginPost(n0.socket, `/${m}`, b);
    const post1 = (m: string, b?: unknown) => pluginPost(n1.socket, `/${m}`, b);

    assert.deepEqual((await post0('Plugin.Activate', {})).body, { Implements: ['VolumeDriver'] });
    assert.deepEqual((await post1('VolumeDriver.Capabilities')).body, { Capabilities: { Scope: 'global' } });
    const created = await post0('VolumeDriver.Create', { Name: 'hellopersistence', Opts: { size: '1' } });
    assert.deepEqual(created.body, { Err: '' }, created.text);
    assert.deepEqual((await post1('VolumeDriver.List')).body.Volumes, [{ Name: 'hellopersistence' }], 'node1 sees the volume node0 made');
    const [vol] = (await api(s, 'GET', '/v1/volumes?name=hellopersistence', undefined, bearer(ADMIN))).body.items;

    const m0 = await post0('VolumeDriver.Mount', { Name: 'hellopersistence', ID: 'c0' });
    assert.equal(m0.status, 200, m0.text);
    const path0 = join(root!, 'mounts-node0', vol.id);
    assert.deepEqual(m0.body, { Mountpoint: path0, Err: '' }, 'the mount point is node0\'s agent mount');
    assert.ok(await findmnt(path0), 'mounted by node0\'s agent');
    writeFileSync(join(path0, 'myfile'), 'hello from node0');
    assert.equal((await post0('VolumeDriver.Path', { Name: 'hellopersistence' })).body.Mountpoint, path0);
    assert.deepEqual((await post1('VolumeDriver.Path', { Name: 'hellopersistence' })).body, { Mountpoint: '', Err: '' }, 'not mounted on node1');
    const get = await post1('VolumeDriver.Get', { Name: 'hellopersistence' });
    assert.deepEqual(get.body.Volume.Status.attachedTo, ['node0']);

    assert.match(errOf(await post1('VolumeDriver.Mount', { Name: 'hellopersistence', ID: 'c1' })), /^FAILED_PRECONDITION: .*node0/, 'RWO: held by node0');
    assert.match(errOf(await post1('VolumeDriver.Remove', { Name: 'hellopersistence' })), /^FAILED_PRECONDITION: volume .* is attached to node0/, 'not removed while node0 holds it');

    assert.deepEqual((await post0('VolumeDriver.Unmount', { Name: 'hellopersistence', ID: 'c0' })).body, { Err: '' });
    assert.equal(await findmnt(path0), undefined, 'the last Unmount unmounted it on node0');
    assert.deepEqual((await api(s, 'GET', `/v1/volumes/${vol.id}`, undefined, bearer(ADMIN))).body.attachments, []);

    const m1 = await post1('VolumeDriver.Mount', { Name: 'hellopersistence', ID: 'c1' });
    const path1 = join(root!, 'mounts-node1', vol.id);
    assert.deepEqual(m1.body, { Mountpoint: path1, Err: '' }, m1.text);
    assert.equal(readFileSync(join(path1, 'myfile'), 'utf8'), 'hello from node0');
    assert.deepEqual((await post1('VolumeDriver.Unmount', { Name: 'hellopersistence', ID: 'c1' })).body, { Err: '' });
    assert.equal(await findmnt(path1), undefined);

    assert.match(errOf(await post1('VolumeDriver.Mount', { Name: '../etc', ID: 'x' })), /^INVALID_ARGUMENT: Name/);
    assert.match(errOf(await post1('VolumeDriver.Get', { Name: 'nope' })), /^NOT_FOUND/);
    assert.equal((await pluginPost(n1.socket, '/VolumeDriver.Nope', {})).status, 404);
    assert.deepEqual((await post1('VolumeDriver.Remove', { Name: 'hellopersistence' })).body, { Err: '' });
    assert.equal((await api(s, 'GET', `/v1/volumes/${vol.id}`, undefined, bearer(ADMIN))).status, 404);
  });

  it('a node token bound to node0 cannot register as node1; a plugin whose server is away answers UNAVAILABLE', async () => {
    const s = await start();
    const impostor = agent(s.url, 'node1', NODE0_TOKEN);
    await waitFor('the impostor to be refused', async () => (/may register only as node0/.test(impostor.agent.stdout()) ? true : undefined));
    assert.equal((await api(s, 'GET', '/v1/nodes/node1', undefined, bearer(ADMIN))).status, 404, 'node1 never registered');
    assert.match(errOf(await pluginPost(impostor.socket, '/VolumeDriver.List', {})), /^UNAVAILABLE: /);
    agent(s.url, 'node0', NODE0_TOKEN);
    await nodeReady(s, 'node0', ADMIN);

    const lonely = agent(`http://127.0.0.1:${await freePort()}`, 'lonely');
    await waitFor('the lonely plugin socket', async () => (/docker plugin listening/.test(lonely.agent.stdout()) ? true : undefined));
    assert.match(errOf(await pluginPost(lonely.socket, '/VolumeDriver.Mount', { Name: 'x', ID: 'y' })), /^UNAVAILABLE: node lonely is not connected/);
    assert.deepEqual((await pluginPost(lonely.socket, '/Plugin.Activate', {})).body, { Implements: ['VolumeDriver'] }, 'Activate needs no server');
  });
});
