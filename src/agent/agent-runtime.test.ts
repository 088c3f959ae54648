/**
 * The agent runtime's side of a (re)connection, with the real dir driver under a temp dir and
 * the channel's messages recorded: heartbeats start at the welcome, also while an operation of
 * the lost connection still runs (only the report waits for it), and the lease is counted from
 * the hello the server registered, not from the welcome's arrival.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { ServiceSpec } from '../core/model.js';
import { silentLogger } from '../core/ports/logger.js';
import type { StorageDriver } from '../core/ports/storage-driver.js';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { AgentRuntime } from './agent-runtime.js';
import { monotonicNow } from './monotonic-clock.js';
import type { AgentMessage, ServerMessage } from './protocol.js';

const LEASE = 1_000;
const GRACE = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string | undefined;
let runtime: AgentRuntime | undefined;

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function spec(root: string): ServiceSpec {
  return {
    name: 'shared', driver: 'dir', defaultSizeBytes: 1 << 20, quota: {}, driverConfig: {},
    pools: [{ name: 'p', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: join(root, 'pool') } }],
  };
}

const welcome = (root: string): ServerMessage => ({ t: 'welcome', services: [spec(root)], leaseMs: LEASE, graceMs: GRACE, heartbeatMs: 50 });

/** A runtime whose dir driver's `create` waits for `gate` (a long clone, say). */
function start(gate: Promise<void>, leases: number[]): AgentRuntime {
  dir = mkdtempSync(join(tmpdir(), 'polly-runtime-'));
  const slowCreate = (d: StorageDriver): StorageDriver => Object.assign(Object.create(d) as StorageDriver, {
    create: async (...args: Parameters<StorageDriver['create']>) => {
      await gate;
      return d.create(...args);
    },
  });
  return (runtime = new AgentRuntime({
    nodeId: 'n1', labels: {}, pools: [], devices: [], mountDir: join(dir, 'mounts'), version: 'test', inProcess: false, selfFence: false,
    makeDriver: (s) => slowCreate(createDirDriver(s)), logger: silentLogger, onLease: (d) => leases.push(d),
  }));
}

describe('agent runtime', { timeout: 30_000 }, () => {
  it('heartbeats from the welcome on while an operation of the lost connection runs; only the report waits', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const leases: number[] = [];
    const rt = start(gate, leases);
    const first: AgentMessage[] = [];
    rt.connected((m) => first.push(m));
    await rt.handle(welcome(dir!));
    const op = rt.handle({ t: 'op', op: { opId: 'op-1', nodeId: 'n1', kind: 'create', volumeId: 'vol-1', args: { service: 'shared', request: { volumeId: 'vol-1', pool: 'p', sizeBytes: 1 << 20 } } } });
    rt.disconnected();

    const second: AgentMessage[] = [];
    rt.connected((m) => {
      second.push(m);
      // The server acknowledges every heartbeat at once.
      if (m.t === 'hb') setImmediate(() => void rt.handle({ t: 'hbAck', seq: m.seq, state: 'recovering' }));
    });
    const welcomed = rt.handle(welcome(dir!));
    await sleep(LEASE + GRACE); // longer than the lease and grace: the operation is still running
    const beats = second.filter((m) => m.t === 'hb').length;
    assert.ok(beats >= 5, `heartbeats while the operation runs: ${beats}`);
    assert.equal(second.some((m) => m.t === 'report'), false, 'no report before the operation ended');
    assert.ok(leases.at(-1)! > monotonicNow() + LEASE / 2, 'the guard deadline moved on with the acknowledged heartbeats');

    release();
    await welcomed;
    await op;
    assert.equal(second.at(-1)?.t, 'report', 'the report follows once the operation ended');
  });

  it('counts the lease from the hello the server registered, not from the welcome\'s arrival', async () => {
    const leases: number[] = [];
    const rt = start(Promise.resolve(), leases);
    const helloAt = monotonicNow();
    rt.connected(() => undefined);
    await sleep(300); // the way to the server and back
    await rt.handle(welcome(dir!));
    const deadline = leases.at(-1)!;
    assert.ok(deadline <= monotonicNow() - 300 + LEASE + GRACE / 2 + 50, `deadline ${deadline - helloAt} ms after the hello`);
    assert.ok(deadline >= helloAt + LEASE + GRACE / 2);
  });
});
