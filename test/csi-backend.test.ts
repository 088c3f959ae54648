/**
 * The `csi` storage driver against a real CSI plugin: a second `polly server` process serving CSI
 * on a unix socket. The StorageDriver contract runs over it (each case in a pool of its own,
 * i.e. a topology zone of the backend), then a front Polly uses it end to end through REST.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceSpec } from '../src/core/model.js';
import { createCsiDriver } from '../src/drivers/csi/csi-driver.js';
import { driverContract } from '../src/drivers/driver-contract.js';
import { csiClient } from './support/csi-client.js';
import { GiB, MiB, poolDir } from './support/polly-fixtures.js';
import { api, cleanup, startPollyServer, type RunningServer } from './support/server-process.js';

const ZONES = 20;
const ZONE_KEY = 'topology.polly.io/zone';

after(cleanup);

let backend: Promise<RunningServer> | undefined;
/** The backend plugin: one service whose pools z1…z20 are topology zones. */
const startBackend = () =>
  (backend ??= startPollyServer({
    config: {
      log: { level: 'warn' },
      csi: { services: ['identity', 'controller'], nodes: ['front-node'] },
      services: { default: { driver: 'dir', pools: Array.from({ length: ZONES }, (_, i) => ({ name: `z${i + 1}`, zone: `z${i + 1}`, capacity: '1Gi' })) } },
    },
  }));
after(async () => (await backend)?.stop());

const frontSpec = (socket: string, zone: string, extra: Record<string, unknown> = {}): ServiceSpec => ({
  name: 'remote', driver: 'csi', defaultSizeBytes: MiB, quota: {},
  pools: [{ name: 'p', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { topology: { [ZONE_KEY]: zone } } }],
  driverConfig: { endpoint: `unix://${socket}`, timeout: 20, retryFor: 20, ...extra },
});

let zone = 0;
driverContract('csi (a Polly process serving CSI as the plugin)', async () => {
  const server = await startBackend();
  const z = `z${++zone}`;
  if (zone > ZONES) throw new Error('more contract cases than backend zones');
  const driver = createCsiDriver(frontSpec(join(server.dataDir, 'csi.sock'), z));
  await driver.connect();
  return {
    driver, pool: 'p', backendIds: 'backend',
    pathOf: (ref) => join(poolDir(server, 'default', z), 'volumes', ref.backendId),
    cleanup: async () => {
      const cleaner = createCsiDriver(frontSpec(join(server.dataDir, 'csi.sock'), z));
      const all = await cleaner.list('p');
      for (const s of all.filter((v) => v.kind === 'snapshot')) await cleaner.deleteSnapshot(s);
      for (const v of all.filter((x) => x.kind === 'volume')) await cleaner.delete(v);
      await cleaner.close();
    },
  };
});

describe('csi driver: options and a plugin that is not there', () => {
  it('refuses bad options naming the key', () => {
    assert.throws(() => createCsiDriver(frontSpec('/x.sock', 'z1', { endpoint: 'http://x' })), /options\.endpoint/);
    assert.throws(() => createCsiDriver(frontSpec('/x.sock', 'z1', { accessMode: 'EVERYONE' })), /options\.accessMode/);
    assert.throws(() => createCsiDriver(frontSpec('/x.sock', 'z1', { parameters: { a: 1 } })), /options\.parameters/);
  });

  it('UNAVAILABLE (after its retries) when the plugin does not answer', async () => {
    const driver = createCsiDriver(frontSpec('/nonexistent/polly-test/csi.sock', 'z1', { timeout: 1, retryFor: 0.5 }));
    await assert.rejects(driver.capacity('p'), (e: Error & { code?: string }) => e.code === 'UNAVAILABLE' && /CSI plugin/.test(e.message));
    await driver.close();
  });
});

describe('a front Polly whose service is backed by the CSI plugin', { timeout: 120_000 }, () => {
  let back: RunningServer;
  let front: RunningServer;
  before(async () => {
    back = await startBackend();
    front = await startPollyServer({
      config: {
        log: { level: 'warn' },
        server: { nodeId: 'front-node' },
        csi: { services: ['identity', 'controller'], nodes: ['stranger'] },
        services: {
          remote: {
            driver: 'csi',
            options: { endpoint: `unix://${join(back.dataDir, 'csi.sock')}`, parameters: { service: 'default' } },
            pools: [{ name: 'east', topology: { [ZONE_KEY]: 'z19' } }, { name: 'west', topology: { [ZONE_KEY]: 'z20' } }],
          },
        },
      },
    });
  });
  after(async () => front?.stop());

  it("turns the plugin's capacity and topology into pools, and its capabilities into the service's", async () => {
    const pools = (await api(front, 'GET', '/v1/pools')).body.items as { name: string; totalBytes: number; freeBytes: number }[];
    assert.deepEqual(pools.map((p) => p.name).sort(), ['east', 'west']);
    for (const p of pools) {
      assert.equal(p.totalBytes, GiB);
      assert.equal(p.freeBytes, GiB);
    }
    const svc = (await api(front, 'GET', '/v1/services')).body.items.find((s: { name: string }) => s.name === 'remote');
    assert.deepEqual(svc.capabilities, { snapshot: true, clone: true, expand: true, block: false, nodeLocal: false });
  });

  it('create, snapshot, clone, expand and delete go to the plugin', async () => {
    const made = await api(front, 'POST', '/v1/volumes', { service: 'remote', name: 'data', size: '8Mi' });
    assert.equal(made.status, 201, made.text);
    const vol = made.body;
    const backVolumes = (await api(back, 'GET', '/v1/volumes')).body.items as { id: string; name: string; pool: string; size: number }[];
    const backing = backVolumes.find((v) => v.name === vol.id);
    assert.ok(backing, 'the plugin has a volume named after the Polly volume id');
    assert.ok(['default/z19', 'default/z20'].includes(backing.pool), backing.pool);
    const backDir = join(poolDir(back, 'default', backing.pool.slice('default/'.length)), 'volumes', backing.id);
    writeFileSync(join(backDir, 'note.txt'), 'kept by the plugin');

    const snap = await api(front, 'POST', `/v1/volumes/${vol.id}/snapshots`, { name: 'nightly' });
    assert.ok(snap.status === 201 || snap.status === 202, snap.text);
    const snapId = (snap.body.id ?? snap.body.snapshot?.id) as string;
    const restored = await api(front, 'POST', '/v1/volumes', { service: 'remote', name: 'restored', source: { snapshot: snapId } });
    assert.equal(restored.status, 201, restored.text);
    const clone = await api(front, 'POST', '/v1/volumes', { service: 'remote', name: 'copy', source: { volume: vol.id } });
    assert.equal(clone.status, 201, clone.text);
    const backNow = (await api(back, 'GET', '/v1/volumes')).body.items as { id: string; name: string; pool: string }[];
    for (const v of [restored.body, clone.body]) {
      const b = backNow.find((x) => x.name === v.id)!;
      assert.ok(existsSync(join(poolDir(back, 'default', b.pool.slice('default/'.length)), 'volumes', b.id, 'note.txt')), 'content came along');
    }

    // Expand through the front's own CSI endpoint: CSI → core → csi driver → the plugin.
    const csi = csiClient(`unix://${join(front.dataDir, 'csi.sock')}`);
    try {
      const grown = await csi.controller.ControllerExpandVolume!({ volume_id: vol.id, capacity_range: { required_bytes: 32 * MiB } });
      assert.equal(grown.capacity_bytes, 32 * MiB);
    } finally {
      csi.close();
    }
    assert.equal((await api(back, 'GET', `/v1/volumes/${backing.id}`)).body.size, 32 * MiB);

    for (const v of [clone.body, restored.body]) assert.equal((await api(front, 'DELETE', `/v1/volumes/${v.id}`)).status < 300, true);
    assert.ok((await api(front, 'DELETE', `/v1/snapshots/${snapId}`)).status < 300);
    assert.ok((await api(front, 'DELETE', `/v1/volumes/${vol.id}`)).status < 300);
    const left = ((await api(back, 'GET', '/v1/volumes')).body.items as { name: string }[]).filter((v) => [vol.id, clone.body.id, restored.body.id].includes(v.name));
    assert.deepEqual(left, []);
    assert.ok(!existsSync(backDir));
  });

  it("ControllerPublish goes to the plugin; what the plugin refuses is not recorded", async () => {
    const made = await api(front, 'POST', '/v1/volumes', { service: 'remote', name: 'published', size: '4Mi' });
    assert.equal(made.status, 201, made.text);
    const backing = ((await api(back, 'GET', '/v1/volumes')).body.items as { id: string; name: string }[]).find((v) => v.name === made.body.id)!;
    const csi = csiClient(`unix://${join(front.dataDir, 'csi.sock')}`);
    const cap = { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    try {
      const res = await csi.controller.ControllerPublishVolume!({ volume_id: made.body.id, node_id: 'front-node', volume_capability: cap });
      assert.equal(res.publish_context['polly.io/node'], 'front-node');
      const onBackend = (await api(back, 'GET', `/v1/volumes/${backing.id}`)).body;
      assert.equal(onBackend.status, 'attached');
      assert.deepEqual(onBackend.attachments.map((a: { nodeId: string }) => a.nodeId), ['front-node']);

      // The plugin does not know this node: NOT_FOUND, and the front keeps no attachment for it.
      await csi.controller.ControllerUnpublishVolume!({ volume_id: made.body.id, node_id: 'front-node' });
      assert.equal((await api(back, 'GET', `/v1/volumes/${backing.id}`)).body.status, 'available');
      await assert.rejects(csi.controller.ControllerPublishVolume!({ volume_id: made.body.id, node_id: 'stranger', volume_capability: cap }),
        (e: { code: number }) => e.code === 5);
      assert.deepEqual((await api(front, 'GET', `/v1/volumes/${made.body.id}`)).body.attachments, []);
    } finally {
      csi.close();
    }
    assert.ok((await api(front, 'DELETE', `/v1/volumes/${made.body.id}`)).status < 300);
  });

  it('nothing fits: the plugin says RESOURCE_EXHAUSTED, Polly answers 507 naming the pools', async () => {
    const res = await api(front, 'POST', '/v1/volumes', { service: 'remote', name: 'huge', size: '8Gi' });
    assert.equal(res.status, 507, res.text);
  });
});

