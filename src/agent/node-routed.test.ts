/**
 * NodeRoutedDriver over a real NodeExecutor and real dir drivers (a server's and two nodes'):
 * what is routed where, what nodes report, and what is refused.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { PollyError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { PoolSpec, ServiceSpec } from '../core/model.js';
import { NodeRoutedDriver, type NodeDispatch } from '../core/node-routed-driver.js';
import { silentLogger } from '../core/ports/logger.js';
import type { StorageDriver } from '../core/ports/storage-driver.js';
import { MiB } from '../core/units.js';
import { createDirDriver } from '../drivers/dir/dir-driver.js';
import { NodeExecutor } from './node-executor.js';

const pool = (name: string, dir: string, node?: string): PoolSpec => ({
  name, overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: path.join(dir, name) }, ...(node ? { node } : {}),
});

const code = (c: string, message?: RegExp) => (e: unknown) => e instanceof PollyError && e.code === c && (message === undefined || message.test(e.message));

describe('node-routed driver over real agents', () => {
  let dir: string;
  let drivers: StorageDriver[];
  let routed: NodeRoutedDriver;
  let away: Set<string>;
  let tamper: ((r: Record<string, unknown>) => Record<string, unknown>) | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'polly-routed-'));
    drivers = [];
    const spec = (pools: PoolSpec[]): ServiceSpec => ({ name: 'files', driver: 'dir', defaultSizeBytes: MiB, quota: {}, driverConfig: {}, pools });
    const server = createDirDriver(spec([pool('central', dir)]));
    // Each node builds the service's driver with its own pool added (as AgentRuntime does).
    const executors = new Map(['node-a', 'node-b'].map((n) => {
      const d = createDirDriver(spec([pool('central', dir), pool(`${n}-disk`, dir, n)]));
      drivers.push(d);
      return [n, new NodeExecutor(path.join(dir, `mounts-${n}`), () => new Map([['files', d]]), silentLogger)];
    }));
    drivers.push(server);
    away = new Set();
    tamper = undefined;
    const dispatch: NodeDispatch = async (nodeId, kind, volumeId, args) => {
      const opId = newId('op');
      if (away.has(nodeId)) return { opId, ok: false, error: { code: 'UNAVAILABLE', message: `the agent of node ${nodeId} is not connected` } };
      const res = await executors.get(nodeId)!.run({ opId, nodeId, kind, volumeId, args });
      return tamper && res.ok ? { ...res, result: tamper({ ...res.result }) } : res;
    };
    routed = new NodeRoutedDriver(server, 'files', (p) => (p.endsWith('-disk') ? p.slice(0, -'-disk'.length) : undefined), dispatch);
  });
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('snapshots, clones, expands and deletes on a node pool in that node\'s storage', async () => {
    const v = await routed.create({ volumeId: newId('vol'), pool: 'node-a-disk', sizeBytes: MiB, parameters: {} });
    assert.ok(existsSync(path.join(dir, 'node-a-disk', 'volumes', v.backendId)));
    const snapId = newId('snap');
    const s = await routed.snapshot(snapId, v);
    assert.equal(s.kind, 'snapshot');
    assert.ok(existsSync(path.join(dir, 'node-a-disk', 'snapshots', snapId)));
    const fromSnap = await routed.create({ volumeId: newId('vol'), pool: 'node-a-disk', sizeBytes: MiB, parameters: {}, source: { kind: 'snapshot', ref: s } });
    const fromVol = await routed.create({ volumeId: newId('vol'), pool: 'node-a-disk', sizeBytes: 2 * MiB, parameters: {}, source: { kind: 'volume', ref: v } });
    assert.ok(existsSync(path.join(dir, 'node-a-disk', 'volumes', fromSnap.backendId)));
    const grown = await routed.expand(fromVol, 4 * MiB);
    assert.equal(grown.sizeBytes, 4 * MiB);
    const listed = await routed.list('node-a-disk');
    assert.deepEqual(listed.map((x) => `${x.kind}:${x.backendId}`).sort(), [v, fromSnap, fromVol].map((x) => `volume:${x.backendId}`).concat(`snapshot:${snapId}`).sort());
    await routed.deleteSnapshot(s);
    assert.equal(existsSync(path.join(dir, 'node-a-disk', 'snapshots', snapId)), false);
    await routed.deleteSnapshot(s); // idempotent through the agent too
  });

  it('reports what each node pool can do, from its node', async () => {
    assert.equal(routed.capabilitiesOf('node-a-disk'), undefined, 'unknown until the node answered');
    const cap = await routed.capacity('node-a-disk');
    assert.ok(cap.totalBytes > 0);
    assert.deepEqual(routed.capabilitiesOf('node-a-disk'), { ...routed.capabilities });
    assert.equal(routed.capabilitiesOf('central'), undefined);
  });

  it('refuses clones between nodes, and between a node and the server, before anything is sent', async () => {
    const onA = await routed.create({ volumeId: newId('vol'), pool: 'node-a-disk', sizeBytes: MiB, parameters: {} });
    const onServer = await routed.create({ volumeId: newId('vol'), pool: 'central', sizeBytes: MiB, parameters: {} });
    await assert.rejects(
      routed.create({ volumeId: newId('vol'), pool: 'node-b-disk', sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: onA } }),
      code('UNSUPPORTED', /cloning across nodes is not supported: the source volume is on pool node-a-disk of node node-a, the new volume would be on pool node-b-disk of node node-b/),
    );
    await assert.rejects(
      routed.create({ volumeId: newId('vol'), pool: 'node-b-disk', sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: onServer } }),
      code('UNSUPPORTED', /the server's pool central/),
    );
    assert.deepEqual(await routed.list('node-b-disk'), []);
  });

  it('an agent that is away answers UNAVAILABLE (retryable); a wrong answer is a backend error', async () => {
    const v = await routed.create({ volumeId: newId('vol'), pool: 'node-a-disk', sizeBytes: MiB, parameters: {} });
    away.add('node-a');
    for (const attempt of [() => routed.snapshot(newId('snap'), v), () => routed.expand(v, 2 * MiB), () => routed.delete(v), () => routed.list('node-a-disk')]) {
      await assert.rejects(attempt(), (e: unknown) => code('UNAVAILABLE')(e) && (e as PollyError).retryable === true);
    }
    away.clear();
    tamper = (r) => ({ ...r, backendId: '../escape' });
    await assert.rejects(routed.snapshot(newId('snap'), v), code('BACKEND_ERROR', /answered a snapshot that is not one/));
  });

  it('a node\'s NOT_FOUND or INVALID_ARGUMENT on a removal is a backend error, never "gone already"', async () => {
    const v = await routed.create({ volumeId: newId('vol'), pool: 'node-a-disk', sizeBytes: MiB, parameters: {} });
    // The node cannot serve the request (e.g. it failed to build the service's driver).
    routed = new NodeRoutedDriver(drivers.at(-1)!, 'files', (p) => (p.endsWith('-disk') ? p.slice(0, -'-disk'.length) : undefined),
      async () => ({ opId: newId('op'), ok: false, error: { code: 'NOT_FOUND', message: 'this agent has no driver for service files' } }));
    await assert.rejects(routed.delete(v), code('BACKEND_ERROR', /no driver for service files/));
    await assert.rejects(routed.deleteSnapshot({ pool: 'node-a-disk', backendId: newId('snap') }), code('BACKEND_ERROR'));
    await assert.rejects(routed.expand(v, 2 * MiB), code('NOT_FOUND'), 'a request-level answer is still passed on');
  });
});
