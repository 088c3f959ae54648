/**
 * The agent's fence guard (D82) with real processes (root): a server, an agent with its guard, a
 * dir volume attached and mounted on the node, and processes using it — one writing with its
 * working directory on the mount, one in a mount namespace of its own that holds a copy of the
 * mount (as a container does) — plus one that does not use it.
 *   - the agent is SIGKILLed: at the lease deadline the guard stops the two users (not the
 *     bystander), unmounts the volume, and does so before the server fences the node;
 *   - an agent that returns before the deadline takes the running guard over, and nothing is fenced.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { cleanupHostDir, findmnt } from '../src/drivers/node/testing/host-cleanup.js';
import { fenceGuardOf, nodeReady, processRunning as running, sleep, startAgent, startNodesServer, waitFor, type AgentProcess } from './support/agent-process.js';
import { namespaceSettled, privateMountNamespace } from './support/mount-namespace.js';
import { api, bearer, cleanup, tempDir, type RunningServer } from './support/server-process.js';

const ADMIN = 'admin-token-0123456789';
const NODE_TOKEN = 'node-token-0123456789abc';

after(cleanup);

const procs: ChildProcess[] = [];
const agents: AgentProcess[] = [];
let server: RunningServer | undefined;
let root: string | undefined;

afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const a of agents.splice(0)) await a.kill('SIGKILL');
  if (root) fenceGuardOf(join(root, 'mounts')).kill();
  await server?.stop('SIGKILL');
  server = undefined;
  if (root) await cleanupHostDir(root);
  root = undefined;
});

const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

async function setup(): Promise<{ s: RunningServer; mountDir: string; id: string; agent: AgentProcess }> {
  root = tempDir('fence-guard');
  server = await startNodesServer(root, ADMIN, {
    nodes: { lease: '2s', grace: '2s', tokens: [{ name: 'n', token: NODE_TOKEN }] },
    services: { shared: { driver: 'dir', pools: [{ name: 'shared', path: join(root, 'pool') }] } },
  });
  const mountDir = join(root, 'mounts');
  mkdirSync(mountDir);
  const agent = startAgent(server, { nodeId: 'node-a', mountDir, token: NODE_TOKEN, configDir: root });
  agents.push(agent);
  await nodeReady(server, 'node-a', ADMIN);
  const created = await api(server, 'POST', '/v1/volumes', { service: 'shared', name: 'guarded', size: '1Mi' }, bearer(ADMIN));
  assert.equal(created.status, 201, created.text);
  const id = created.body.id as string;
  const attached = await api(server, 'POST', `/v1/volumes/${id}/attachments`, { nodeId: 'node-a' }, bearer(ADMIN));
  assert.equal(attached.status, 200, attached.text);
  // The agent starts its guard on its own time: wait for it, so the tests see the guard it made.
  await waitFor('the agent\'s fence guard', async () => (fenceGuardOf(mountDir).running() ? true : undefined), 10_000);
  return { s: server, mountDir, id, agent };
}

describe('fence guard', { timeout: 120_000 }, () => {
  it('stops the users of a SIGKILLed agent\'s volumes and unmounts them before the server fences the node', async () => {
    const { s, mountDir, id, agent } = await setup();
    const mount = join(mountDir, id);
    const guard = fenceGuardOf(mountDir).pid();
    assert.ok(guard !== undefined && running(guard), 'the agent started its guard');

    const writer = spawn('sh', ['-c', 'while :; do echo tick >> ticks; sleep 0.1; done'], { cwd: mount, stdio: 'ignore' });
    const container = privateMountNamespace([mount]);
    const bystander = spawn('sleep', ['infinity'], { cwd: mountDir, stdio: 'ignore' });
    procs.push(writer, container, bystander);
    await namespaceSettled(container);
    await waitFor('the writer to write', async () => (existsSync(join(mount, 'ticks')) ? true : undefined));

    await agent.kill('SIGKILL');
    await waitFor('the guard to fence', async () => (/"msg":"fenced: every volume/.test(fenceGuardOf(mountDir).log()) ? true : undefined), 30_000, 50);
    const log = fenceGuardOf(mountDir).log().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    const fenced = log.find((l) => String(l['msg']).startsWith('fenced'))!;
    assert.deepEqual(fenced['unmounted'], [mount]);
    const killed = (fenced['killed'] as { pid: number }[]).map((k) => k.pid);
    assert.ok(killed.includes(writer.pid!) && killed.includes(container.pid!), JSON.stringify(fenced['killed'])); // (and the writer's `sleep 0.1`, whose cwd is there too)
    assert.ok(!killed.includes(bystander.pid!), JSON.stringify(fenced['killed']));
    await waitFor('the users to be gone', async () => (exited(writer) && exited(container) ? true : undefined), 5_000);
    assert.equal(exited(bystander), false, 'a process not using the volume is left alone');
    assert.equal(await findmnt(mount), undefined, 'unmounted');

    const node = await waitFor('node-a fenced', async () => {
      const r = await api(s, 'GET', '/v1/events?node=node-a&type=node.fenced', undefined, bearer(ADMIN));
      return r.body.items.length > 0 ? r.body.items[0] : undefined;
    }, 30_000, 100);
    assert.ok(fenced['time'] < Date.parse(node.at), `the guard fenced at ${new Date(fenced['time']).toISOString()}, the server at ${node.at}`);
    await waitFor('the guard to exit (no agent, nothing mounted)', async () => (running(guard!) ? undefined : true), 5_000);
  });

  it('an agent back before the deadline takes the running guard over: nothing is fenced', async () => {
    const { s, mountDir, id, agent } = await setup();
    const guard = fenceGuardOf(mountDir).pid();
    await agent.kill('SIGKILL');
    const back = startAgent(s, { nodeId: 'node-a', mountDir, token: NODE_TOKEN, configDir: root! });
    agents.push(back);
    await nodeReady(s, 'node-a', ADMIN);
    await sleep(4_000); // past the old deadline (lease 2 s + grace/2 1 s after the last acknowledged beat)
    assert.equal(fenceGuardOf(mountDir).pid(), guard, 'the same guard');
    assert.ok(running(guard!), 'still running');
    assert.ok(await findmnt(join(mountDir, id)), 'still mounted');
    assert.doesNotMatch(fenceGuardOf(mountDir).log(), /"msg":"fenced/);
    const v = (await api(s, 'GET', `/v1/volumes/${id}`, undefined, bearer(ADMIN))).body;
    assert.deepEqual(v.attachments.map((a: { nodeId: string }) => a.nodeId), ['node-a']);
  });
});
