/**
 * CSI endpoints: a controller-only and a node-only endpoint side by side, a TCP endpoint, the
 * Identity service on each, and a graceful shutdown that removes the sockets.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { codeOf, csiClient, grpc } from './support/csi-client.js';
import { mountCap } from './support/csi-server.js';
import { cleanup, freePort, startPollyServer } from './support/server-process.js';

after(cleanup);

describe('separate CSI endpoints', { timeout: 60_000 }, () => {
  it('serves controller-only, node-only and TCP endpoints; shuts down cleanly, removing its sockets', async () => {
    const port = await freePort();
    const server = await startPollyServer({
      config: {
        log: { level: 'warn' },
        csi: {
          endpoint: 'unix://controller.sock', services: ['identity', 'controller'],
          endpoints: [{ endpoint: 'unix://node.sock', services: ['node'] }, { endpoint: `tcp://127.0.0.1:${port}` }],
        },
      },
    });
    const ctlSock = join(server.dataDir, 'controller.sock');
    const nodeSock = join(server.dataDir, 'node.sock');
    const controller = csiClient(`unix://${ctlSock}`);
    const node = csiClient(`unix://${nodeSock}`);
    const tcp = csiClient(`127.0.0.1:${port}`);
    try {
      assert.ok(!existsSync(join(server.dataDir, 'csi.sock')), 'no default socket when csi.endpoint is set');
      // Identity everywhere; the controller endpoint says it has the controller service, the node endpoint does not.
      const ctlCaps = (await controller.identity.GetPluginCapabilities!()).capabilities.map((c: any) => c.service?.type);
      assert.ok(ctlCaps.includes('CONTROLLER_SERVICE'));
      const nodeCaps = (await node.identity.GetPluginCapabilities!()).capabilities.map((c: any) => c.service?.type);
      assert.ok(!nodeCaps.includes('CONTROLLER_SERVICE'));

      assert.equal(await codeOf(controller.node.NodeGetInfo!()), grpc.status.UNIMPLEMENTED);
      assert.equal(await codeOf(node.controller.ListVolumes!()), grpc.status.UNIMPLEMENTED);
      const info = await node.node.NodeGetInfo!();
      assert.ok(info.node_id.length > 0);

      const { volume } = await tcp.controller.CreateVolume!({ name: 'over-tcp', volume_capabilities: [mountCap()], capacity_range: { required_bytes: 1 << 20 } });
      const listed = await controller.controller.ListVolumes!({});
      assert.deepEqual(listed.entries.map((e: any) => e.volume.volume_id), [volume.volume_id]);
    } finally {
      controller.close();
      node.close();
      tcp.close();
    }
    await server.stop('SIGTERM');
    const exit = await server.exited;
    assert.equal(exit.code, 0, server.stderr());
    assert.ok(!existsSync(ctlSock) && !existsSync(nodeSock), 'sockets removed on shutdown');
  });

  it('csi.caller: CSI calls run as a scheduler token — its services only, its volumes only; max volumes per node', async () => {
    const server = await startPollyServer({
      config: {
        log: { level: 'warn' },
        auth: { tokens: [
          { name: 'ops', token: 'ops-token-0123456789abcdef', role: 'admin' },
          { name: 'k8s', token: 'k8s-token-0123456789abcdef', role: 'scheduler', services: ['mine'] },
        ] },
        csi: { caller: 'k8s', defaultService: 'mine', maxVolumesPerNode: 1 },
        services: { mine: { driver: 'dir' }, theirs: { driver: 'dir' } },
      },
    });
    const c = csiClient(`unix://${join(server.dataDir, 'csi.sock')}`);
    try {
      const req = (name: string, params: Record<string, string> = {}) => ({ name, volume_capabilities: [mountCap()], capacity_range: { required_bytes: 1 << 20 }, parameters: params });
      assert.equal(await codeOf(c.controller.CreateVolume!(req('x', { service: 'theirs' }))), grpc.status.PERMISSION_DENIED);
      const a = (await c.controller.CreateVolume!(req('a'))).volume;
      const b = (await c.controller.CreateVolume!(req('b'))).volume;
      // A volume made by the admin over REST is not the scheduler's to see.
      const admin = await fetch(`${server.url}/v1/volumes`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ops-token-0123456789abcdef' },
        body: JSON.stringify({ service: 'mine', name: 'admins', size: '1Mi' }),
      });
      assert.equal(admin.status, 201);
      const hidden = ((await admin.json()) as { id: string }).id;
      const listed = (await c.controller.ListVolumes!({})).entries.map((e: any) => e.volume.volume_id).sort();
      assert.deepEqual(listed, [a.volume_id, b.volume_id].sort());
      assert.equal(await codeOf(c.controller.ControllerGetVolume!({ volume_id: hidden })), grpc.status.NOT_FOUND);
      await c.controller.DeleteVolume!({ volume_id: hidden }); // invisible looks absent: OK, and nothing is deleted
      const still = await fetch(`${server.url}/v1/volumes/${hidden}`, { headers: { authorization: 'Bearer ops-token-0123456789abcdef' } });
      assert.equal(still.status, 200);
      const node = (await c.node.NodeGetInfo!()).node_id;
      assert.equal((await c.node.NodeGetInfo!()).max_volumes_per_node, 1);
      await c.controller.ControllerPublishVolume!({ volume_id: a.volume_id, node_id: node, volume_capability: mountCap() });
      assert.equal(await codeOf(c.controller.ControllerPublishVolume!({ volume_id: b.volume_id, node_id: node, volume_capability: mountCap() })), grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      c.close();
      await server.stop();
    }
  });

  it('a bad endpoint is a configuration error naming csi.endpoint', async () => {
    await assert.rejects(startPollyServer({ config: { csi: { endpoint: 'http://127.0.0.1:1' } } }), /csi\.endpoint/);
  });
});
