/**
 * The node channel with real parts: core (SQLite store, dir driver), the channel server, and
 * agent runtimes linked in memory (as the in-process agent is), real bind mounts under temp
 * dirs (root). Time of the leases is a manual clock, so fencing is exact and fast.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ADMIN, type ServiceSpec } from '../core/model.js';
import { Polly } from '../core/polly.js';
import type { Clock } from '../core/ports/clock.js';
import { silentLogger } from '../core/ports/logger.js';
import { newId } from '../core/ids.js';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { cleanupHostDir, findmnt } from '../drivers/node/testing/host-cleanup.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { AgentRuntime } from './agent-runtime.js';
import { ChannelServer } from './channel-server.js';

class ManualClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t;
}

const LEASE = 10_000;
const GRACE = 5_000;

interface World {
  dir: string;
  store: SqliteStore;
  polly: Polly;
  channel: ChannelServer;
  clock: ManualClock;
  agents: { runtime: AgentRuntime; unlink(): void }[];
}

let w: World;

function spec(dir: string): ServiceSpec {
  return {
    name: 'shared', driver: 'dir', defaultSizeBytes: 1 << 20, quota: {}, driverConfig: {},
    pools: [{ name: 'p', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: path.join(dir, 'pool') } }],
  };
}

const until = async (what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
};

/** Starts an agent for `nodeId` linked to the channel in memory; resolves once the node is ready. */
async function agent(nodeId: string, inProcess = false): Promise<{ runtime: AgentRuntime; unlink(): void; mountDir: string }> {
  const mountDir = path.join(w.dir, `mounts-${nodeId}`);
  const runtime = new AgentRuntime({
    nodeId, labels: { zone: nodeId }, pools: [], devices: [], mountDir, version: 'test', inProcess: false, selfFence: false,
    makeDriver: createDirDriver, logger: silentLogger,
  });
  let open = true;
  const link = w.channel.link((m) => {
    if (open) void runtime.handle(m);
  }, { inProcess });
  runtime.connected((m) => {
    if (open) link.receive(m);
  });
  const a = {
    runtime, mountDir,
    unlink: () => {
      open = false;
      runtime.disconnected();
      link.close();
    },
  };
  w.agents.push(a);
  await until(`node ${nodeId} ready`, async () => (await w.polly.nodes.getRecord(nodeId))?.value.state === 'ready' && w.channel.connectedNodes().includes(nodeId));
  return a;
}

beforeEach(async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'polly-channel-'));
  const store = SqliteStore.open(path.join(dir, 'polly.db'));
  const clock = new ManualClock(Date.now());
  const services = [spec(dir)];
  const channel = new ChannelServer({ tokens: [], openLoopback: true, services: () => services, logger: silentLogger });
  const polly = await Polly.open({
    store, services, drivers: new Map([['shared', createDirDriver(services[0]!)]]),
    placement: { filters: ['service', 'capacity'], scorers: {}, minFeasiblePools: 10, feasiblePercent: 100 },
    clock, logger: silentLogger, nodeChannel: channel, nodes: { leaseMs: LEASE, graceMs: GRACE, operationTimeoutMs: 5_000 },
  });
  channel.bind(polly.nodes);
  w = { dir, store, polly, channel, clock, agents: [] };
});

afterEach(async () => {
  for (const a of w.agents) {
    a.unlink();
    await a.runtime.close();
  }
  await w.polly.close();
  await w.store.close();
  await cleanupHostDir(w.dir);
});

const create = async (name: string) => (await w.polly.createVolume(ADMIN, { service: 'shared', name })).volume.id;
const types = async (nodeId: string) => (await w.polly.listEvents(ADMIN, { nodeId })).items.map((e) => e.type);

describe('node channel', () => {
  it('registers agents, attaches through them, refuses a second writable holder naming the first', async () => {
    const a = await agent('a');
    const b = await agent('b');
    const nodes = await w.polly.listNodes(ADMIN);
    assert.deepEqual(nodes.map((n) => [n.id, n.state, n.connected, n.labels['zone']]), [['a', 'ready', true, 'a'], ['b', 'ready', true, 'b']]);
    const id = await create('v1');
    const v = await w.polly.attachVolume(ADMIN, id, { nodeId: 'a' });
    assert.equal(v.attachments[0]!.mountPath, path.join(a.mountDir, id));
    assert.ok(await findmnt(path.join(a.mountDir, id)));
    // Repeating is idempotent.
    assert.equal((await w.polly.attachVolume(ADMIN, id, { nodeId: 'a' })).attachments.length, 1);
    await assert.rejects(w.polly.attachVolume(ADMIN, id, { nodeId: 'b' }), (e: { code: string; details: { heldBy: string } }) => e.code === 'FAILED_PRECONDITION' && e.details.heldBy === 'a');
    assert.equal(await findmnt(path.join(b.mountDir, id)), undefined);
    await w.polly.detachVolume(ADMIN, id, 'a');
    assert.equal(await findmnt(path.join(a.mountDir, id)), undefined);
    assert.equal((await w.polly.getVolume(ADMIN, id)).status, 'available');
  });

  it('a node whose lease runs out is unreachable, then fenced after the grace: its attachments are revoked', async () => {
    const a = await agent('a');
    await agent('b');
    const id = await create('v1');
    await w.polly.attachVolume(ADMIN, id, { nodeId: 'a' });
    a.unlink();
    await assert.rejects(w.polly.detachVolume(ADMIN, id, 'a'), (e: { code: string }) => e.code === 'UNAVAILABLE');
    const renewed = (await w.polly.nodes.getRecord('a'))!.value.renewedAt;
    const tick = async (t: number) => {
      w.clock.t = t;
      await w.polly.nodes.heartbeat('b'); // node b stays in touch
      await w.polly.nodes.checkLeases();
    };
    await tick(renewed + LEASE - 1);
    assert.equal((await w.polly.nodes.getRecord('a'))!.value.state, 'ready');
    await tick(renewed + LEASE);
    assert.equal((await w.polly.nodes.getRecord('a'))!.value.state, 'unreachable');
    await assert.rejects(w.polly.attachVolume(ADMIN, id, { nodeId: 'b' }), /attached to node a/);
    await tick(renewed + LEASE + GRACE);
    const fenced = (await w.polly.nodes.getRecord('a'))!.value;
    assert.equal(fenced.state, 'fenced');
    assert.deepEqual(fenced.fencedVolumes, [id]);
    assert.equal((await w.polly.getVolume(ADMIN, id)).status, 'available');
    await assert.rejects(w.polly.attachVolume(ADMIN, id, { nodeId: 'a' }), /node a is fenced/);
    assert.deepEqual((await types('a')).slice(-3), ['node.unreachable', 'volume.revoked', 'node.fenced']);
  });

  it('a fenced node that comes back releases what it lost before it is ready, and never touches the new holder', async () => {
    const a = await agent('a');
    const b = await agent('b');
    const id = await create('v1');
    await w.polly.attachVolume(ADMIN, id, { nodeId: 'a' });
    a.unlink();
    w.clock.t = (await w.polly.nodes.getRecord('a'))!.value.renewedAt + LEASE + GRACE;
    await w.polly.nodes.heartbeat('b');
    await w.polly.nodes.checkLeases();
    await w.polly.attachVolume(ADMIN, id, { nodeId: 'b' });
    assert.ok(await findmnt(path.join(a.mountDir, id)), 'the old mount is still there while node a is away');
    await agent('a');
    assert.equal(await findmnt(path.join(a.mountDir, id)), undefined);
    assert.ok(await findmnt(path.join(b.mountDir, id)));
    assert.deepEqual((await w.polly.nodes.getRecord('a'))!.value.fencedVolumes, []);
    const t = await types('a');
    assert.deepEqual(t.slice(t.lastIndexOf('node.registered')), ['node.registered', 'volume.released', 'node.ready']);
  });

  it('an agent restarted while its volume stays attached mounts it again when the mount is gone', async () => {
    const a = await agent('a');
    const id = await create('v1');
    await w.polly.attachVolume(ADMIN, id, { nodeId: 'a' });
    a.unlink();
    // The node rebooted: its mounts are gone (unmount by hand), the catalog still attaches it.
    await a.runtime.executor.releaseAll();
    assert.equal(await findmnt(path.join(a.mountDir, id)), undefined);
    await agent('a');
    assert.ok(await findmnt(path.join(a.mountDir, id)));
    assert.ok((await types('a')).includes('reconcile.repair'));
  });

  it('answers a replayed op id once, and a dispatch to a node without agent at once', async () => {
    const a = await agent('a');
    const id = await create('v1');
    const op = { opId: newId('op'), nodeId: 'a', kind: 'detach' as const, volumeId: id, args: { service: 'shared', pool: 'p', backendId: id } };
    const first = a.runtime.executor.run(op);
    assert.equal(a.runtime.executor.run(op), first, 'the same op id joins the same run');
    assert.equal((await first).ok, true);
    const r = await w.channel.dispatch({ ...op, opId: newId('op'), nodeId: 'nowhere' }, { timeoutMs: 60_000 });
    assert.equal(r.ok, false);
    assert.equal(r.error?.code, 'UNAVAILABLE');
    await assert.rejects(w.polly.nodes.reconcileAgent('a', [{ service: 'shared', pool: 'p', backendId: '../etc', mountPaths: [] }]), (e: { code: string }) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(w.polly.nodes.reconcileAgent('a', [{ service: 'shared', pool: 'p', backendId: id, mountPaths: ['relative'] }]), /mountPaths/);
    const bad = await w.channel.dispatch({ ...op, opId: newId('op'), args: { service: 'shared', pool: 'p', backendId: '../etc' } }, { timeoutMs: 5_000 });
    assert.equal(bad.ok, false);
    assert.equal(bad.error?.code, 'INVALID_ARGUMENT');
  });

  it('the reconciler repairs drift between a mount table and the catalog, and the doctor reports it', async () => {
    const a = await agent('a');
    const kept = await create('kept');
    const stray = await create('stray');
    await w.polly.attachVolume(ADMIN, kept, { nodeId: 'a' });
    // Behind the catalog's back: the kept volume is unmounted, the stray one mounted on node a.
    await a.runtime.executor.run({ opId: newId('op'), nodeId: 'a', kind: 'detach', volumeId: kept, args: { service: 'shared', pool: 'p', backendId: kept } });
    const mounted = await a.runtime.executor.run({ opId: newId('op'), nodeId: 'a', kind: 'attach', volumeId: stray, args: { service: 'shared', pool: 'p', backendId: stray } });
    assert.equal(mounted.ok, true);
    // A catalog-only attachment to a node without an agent is reported, not changed.
    const legacy = await create('legacy');
    await w.polly.attachVolume(ADMIN, legacy, { nodeId: 'no-agent' });
    const { nodes } = await w.polly.doctor(ADMIN, true);
    assert.ok(nodes);
    assert.deepEqual(nodes.remounted, [`${kept}@a`]);
    assert.deepEqual(nodes.released, [`${stray}@a`]);
    assert.deepEqual(nodes.withoutAgent, [`${legacy}@no-agent`]);
    assert.deepEqual(nodes.errors, []);
    assert.ok(await findmnt(path.join(a.mountDir, kept)));
    assert.equal(await findmnt(path.join(a.mountDir, stray)), undefined);
    const again = (await w.polly.doctor(ADMIN, true)).nodes!;
    assert.deepEqual([again.remounted, again.released], [[], []], 'nothing left to repair');
    await assert.rejects(w.polly.doctor({ kind: 'scheduler', name: 's', services: '*' }, false), (e: { code: string }) => e.code === 'FORBIDDEN');
  });

  it("attachments to the server's own node are catalog claims: its front doors mount", async () => {
    const own = await agent('srv', true);
    assert.equal((await w.polly.getNode(ADMIN, 'srv')).inProcess, true);
    const id = await create('v1');
    const v = await w.polly.attachVolume(ADMIN, id, { nodeId: 'srv' });
    assert.equal(v.attachments[0]!.mountPath, undefined);
    assert.equal(await findmnt(path.join(own.mountDir, id)), undefined);
    await w.polly.cordonNode(ADMIN, 'srv', true);
    await w.polly.detachVolume(ADMIN, id, 'srv');
    await assert.rejects(w.polly.attachVolume(ADMIN, id, { nodeId: 'srv' }), /cordoned/);
  });

  it('replays an operation whose connection dropped once the agent is back; old events are trimmed', async () => {
    const mountDir = path.join(w.dir, 'mounts-r');
    const runtime = new AgentRuntime({
      nodeId: 'r', labels: {}, pools: [], devices: [], mountDir, version: 'test', inProcess: false, selfFence: false, makeDriver: createDirDriver, logger: silentLogger,
    });
    w.agents.push({ runtime, unlink: () => runtime.disconnected() });
    const connect = (dropOps: boolean) => {
      const link = w.channel.link((m) => {
        if (!(dropOps && m.t === 'op')) void runtime.handle(m);
      }, { inProcess: false });
      runtime.connected((m) => link.receive(m));
      return link;
    };
    const first = connect(true);
    await until('node r ready', async () => (await w.polly.nodes.getRecord('r'))?.value.state === 'ready');
    const id = await create('v1');
    // The attach is sent on a connection that loses it; the agent reconnects; the server replays it.
    const attaching = w.polly.attachVolume(ADMIN, id, { nodeId: 'r' });
    await new Promise((r) => setTimeout(r, 50));
    runtime.disconnected();
    first.close();
    connect(false);
    const v = await attaching;
    assert.equal(v.attachments[0]!.mountPath, path.join(mountDir, id));
    assert.ok(await findmnt(path.join(mountDir, id)));

    const before = (await w.polly.listEvents(ADMIN)).items.length;
    assert.ok(before > 0);
    w.clock.t += 8 * 24 * 3600_000;
    await w.polly.nodes.heartbeat('r');
    await w.polly.reconcile({ intentAgeMs: 0, quiescent: false, idempotencyTtlMs: 1e12 });
    const after = (await w.polly.listEvents(ADMIN)).items;
    assert.ok(after.length < before && after.every((e) => e.at >= w.clock.t - 7 * 24 * 3600_000), `${before} → ${after.length}`);
  });

  it('relays front-door calls for the node the connection registered; a door the server does not serve is UNSUPPORTED', async () => {
    const a = await agent('a');
    const seen: string[] = [];
    w.channel.serveCalls('echo', async (nodeId, method, body) => {
      seen.push(`${nodeId} ${method}`);
      return { status: 200, body: { nodeId, method, body } };
    });
    // The node id comes from the channel: a body naming another node changes nothing.
    const answer = await a.runtime.call('echo', 'Volume.Mount', { nodeId: 'b', Name: 'x' });
    assert.deepEqual(answer, { status: 200, body: { nodeId: 'a', method: 'Volume.Mount', body: { nodeId: 'b', Name: 'x' } } });
    assert.deepEqual(seen, ['a Volume.Mount']);
    await assert.rejects(a.runtime.call('nope', 'X', {}), (e: { code: string; message: string }) => e.code === 'UNSUPPORTED' && /does not serve nope calls/.test(e.message));
    a.unlink();
    await assert.rejects(a.runtime.call('echo', 'X', {}), (e: { code: string }) => e.code === 'UNAVAILABLE');
  });

  it('undoes a relayed call whose answer reaches nobody (the connection went away meanwhile)', async () => {
    const a = await agent('a');
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const undone: string[] = [];
    w.channel.serveCalls('slow', async (_nodeId, method) => {
      await gate;
      return { status: 200, body: { method } };
    }, async (nodeId, method, body, answer) => {
      undone.push(`${nodeId} ${method} ${JSON.stringify(body)} ${JSON.stringify(answer.body)}`);
    });
    const call = a.runtime.call('slow', 'VolumeDriver.Mount', { Name: 'v', ID: 'm1' });
    await new Promise((r) => setTimeout(r, 20));
    a.unlink();
    await assert.rejects(call, (e: { code: string }) => e.code === 'UNAVAILABLE');
    open();
    await until('the abandoned call undone', async () => undone.length === 1);
    assert.deepEqual(undone, ['a VolumeDriver.Mount {"Name":"v","ID":"m1"} {"method":"VolumeDriver.Mount"}']);
  });
});
