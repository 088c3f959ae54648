/**
 * CSI conformance, Node service (spec v1.12): stage/publish/unpublish/unstage sequences with real
 * bind mounts of dir volumes (needs root, as CI runs), read-only publishes, target paths made and
 * removed by the plugin, stats from statfs, node expansion, every required field and error code.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupHostDir, findmnt } from '../src/drivers/node/testing/host-cleanup.js';
import { codeOf, grpc, type Msg } from './support/csi-client.js';
import { blockCap, mountCap, startCsiServer, type CsiServer } from './support/csi-server.js';
import { MiB, poolDir } from './support/polly-fixtures.js';
import { cleanup, tempDir } from './support/server-process.js';

const S = grpc.status;

let h: CsiServer;
let ctl: Record<string, (r?: Msg) => Promise<Msg>>;
let node: Record<string, (r?: Msg) => Promise<Msg>>;
let hostDir: string;
let nodeId: string;
let n = 0;

before(async () => {
  hostDir = tempDir('csi-node-host');
  h = await startCsiServer({ services: { default: { driver: 'dir', pools: [{ name: 'local', capacity: '1Gi' }] } } });
  ctl = h.csi.controller;
  node = h.csi.node;
  nodeId = (await node.NodeGetInfo!()).node_id;
});
after(async () => {
  await h?.stop();
  // Unmounts whatever a failed test left under the host dir before the temp dirs go.
  if (hostDir) await cleanupHostDir(hostDir);
  await cleanup();
});

/** A volume ControllerPublished to this node, and a staging dir the CO made (as kubelet does). */
async function published(cap: Msg = mountCap()): Promise<{ id: string; staging: string; dir: string }> {
  const { volume } = await ctl.CreateVolume!({ name: `node-${++n}`, volume_capabilities: [cap], capacity_range: { required_bytes: 8 * MiB } });
  await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: nodeId, volume_capability: cap });
  const staging = join(hostDir, `staging-${n}`);
  mkdirSync(staging);
  return { id: volume.volume_id, staging, dir: join(poolDir(h.server, 'default', 'local'), 'volumes', volume.volume_id) };
}

describe('NodeGetInfo / NodeGetCapabilities', () => {
  it('reports the node id, its topology and the node capabilities', async () => {
    const info = await node.NodeGetInfo!();
    assert.ok(info.node_id.length > 0);
    assert.equal(info.accessible_topology.segments['topology.polly.io/node'], info.node_id);
    const types = ((await node.NodeGetCapabilities!()).capabilities as Msg[]).map((c) => c.rpc.type);
    for (const t of ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION']) assert.ok(types.includes(t), t);
  });
});

describe('stage → publish → unpublish → unstage with real mounts', { timeout: 60_000 }, () => {
  it('mounts the volume, shares its data, read-only when asked, and undoes it all', async () => {
    const v = await published();
    writeFileSync(join(v.dir, 'before.txt'), 'written on the backend');
    await node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: mountCap() });
    await node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: mountCap() }); // idempotent
    assert.ok(await findmnt(v.staging), 'staging path is a mount point');

    const target = join(hostDir, `target-${n}`); // the plugin makes the target path
    await node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: target, volume_capability: mountCap() });
    await node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: target, volume_capability: mountCap() }); // idempotent
    assert.ok(await findmnt(target));
    assert.equal(readFileSync(join(target, 'before.txt'), 'utf8'), 'written on the backend');
    writeFileSync(join(target, 'from-container.txt'), 'hello');
    assert.equal(readFileSync(join(v.dir, 'from-container.txt'), 'utf8'), 'hello', 'writes land in the volume');

    const roTarget = join(hostDir, `ro-target-${n}`);
    await node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: roTarget, volume_capability: mountCap(), readonly: true });
    assert.match((await findmnt(roTarget))!.options, /(^|,)ro(,|$)/);
    assert.throws(() => writeFileSync(join(roTarget, 'nope.txt'), 'x'), /EROFS/);
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: roTarget, volume_capability: mountCap(), readonly: false })), S.ALREADY_EXISTS);

    const stats = await node.NodeGetVolumeStats!({ volume_id: v.id, volume_path: target });
    const bytes = (stats.usage as Msg[]).find((u) => u.unit === 'BYTES')!;
    assert.ok(bytes.total > 0 && bytes.available >= 0 && bytes.used >= 0);
    assert.ok((stats.usage as Msg[]).some((u) => u.unit === 'INODES'));
    assert.equal(stats.volume_condition.abnormal, false);

    await ctl.ControllerExpandVolume!({ volume_id: v.id, capacity_range: { required_bytes: 16 * MiB } });
    const grown = await node.NodeExpandVolume!({ volume_id: v.id, volume_path: target, capacity_range: { required_bytes: 16 * MiB } });
    assert.equal(grown.capacity_bytes, 16 * MiB);

    for (const t of [target, roTarget]) {
      await node.NodeUnpublishVolume!({ volume_id: v.id, target_path: t });
      await node.NodeUnpublishVolume!({ volume_id: v.id, target_path: t }); // idempotent
      assert.equal(await findmnt(t), undefined);
      assert.ok(!existsSync(t), 'the plugin removes the target path it made');
    }
    await node.NodeUnstageVolume!({ volume_id: v.id, staging_target_path: v.staging });
    await node.NodeUnstageVolume!({ volume_id: v.id, staging_target_path: v.staging }); // idempotent
    assert.equal(await findmnt(v.staging), undefined);
    await ctl.ControllerUnpublishVolume!({ volume_id: v.id, node_id: nodeId });
    await ctl.DeleteVolume!({ volume_id: v.id });
    assert.ok(!existsSync(v.dir));
  });

  it('SINGLE_NODE_SINGLE_WRITER: a second target path is FAILED_PRECONDITION; SINGLE_NODE_MULTI_WRITER allows it', async () => {
    for (const mode of ['SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER']) {
      const cap = mountCap(mode);
      const v = await published(cap);
      await node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: cap });
      const t1 = join(hostDir, `sw1-${n}`);
      const t2 = join(hostDir, `sw2-${n}`);
      await node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: t1, volume_capability: cap });
      await node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: t1, volume_capability: cap }); // same target: OK
      const second = node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: t2, volume_capability: cap });
      if (mode === 'SINGLE_NODE_SINGLE_WRITER') {
        assert.equal(await codeOf(second), S.FAILED_PRECONDITION);
        assert.ok(!existsSync(t2), 'nothing made at the refused target');
      } else {
        await second;
        await node.NodeUnpublishVolume!({ volume_id: v.id, target_path: t2 });
      }
      await node.NodeUnpublishVolume!({ volume_id: v.id, target_path: t1 });
      await node.NodeUnstageVolume!({ volume_id: v.id, staging_target_path: v.staging });
    }
  });

  it('a read-only access mode publishes read-only', async () => {
    const cap = mountCap('SINGLE_NODE_READER_ONLY');
    const v = await published(cap);
    await node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: cap });
    const target = join(hostDir, `ro-mode-${n}`);
    await node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: target, volume_capability: cap });
    assert.throws(() => writeFileSync(join(target, 'nope.txt'), 'x'), /EROFS/);
    await node.NodeUnpublishVolume!({ volume_id: v.id, target_path: target });
    await node.NodeUnstageVolume!({ volume_id: v.id, staging_target_path: v.staging });
  });
});

describe('Node errors', () => {
  it('INVALID_ARGUMENT for each missing required field', async () => {
    const v = await published();
    const t = join(hostDir, 't-missing');
    assert.equal(await codeOf(node.NodeStageVolume!({ staging_target_path: v.staging, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeStageVolume!({ volume_id: v.id, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeUnstageVolume!({ volume_id: v.id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeUnstageVolume!({ staging_target_path: v.staging })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodePublishVolume!({ staging_target_path: v.staging, target_path: t, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: t })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeUnpublishVolume!({ volume_id: v.id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeUnpublishVolume!({ target_path: t })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: v.id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_path: t })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeExpandVolume!({ volume_id: v.id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodeExpandVolume!({ volume_path: t })), S.INVALID_ARGUMENT);
  });

  it('relative paths and ".." segments are INVALID_ARGUMENT before anything touches the filesystem', async () => {
    const v = await published();
    assert.equal(await codeOf(node.NodeStageVolume!({ volume_id: v.id, staging_target_path: 'relative/dir', volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: `${hostDir}/../escape`, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
  });

  it('NOT_FOUND for an unknown volume', async () => {
    const staging = join(hostDir, 'nf-staging');
    mkdirSync(staging, { recursive: true });
    assert.equal(await codeOf(node.NodeStageVolume!({ volume_id: 'vol-missing', staging_target_path: staging, volume_capability: mountCap() })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: 'vol-missing', staging_target_path: staging, target_path: join(hostDir, 'nf-t'), volume_capability: mountCap() })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodeUnpublishVolume!({ volume_id: 'vol-missing', target_path: join(hostDir, 'nf-t') })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodeUnstageVolume!({ volume_id: 'vol-missing', staging_target_path: staging })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: 'vol-missing', volume_path: staging })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodeExpandVolume!({ volume_id: 'vol-missing', volume_path: staging })), S.NOT_FOUND);
  });

  it('NodeGetVolumeStats: NOT_FOUND when the volume is not mounted at volume_path', async () => {
    const v = await published();
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: v.id, volume_path: v.staging })), S.NOT_FOUND);
    // A relative path can hold no volume: NOT_FOUND as well (csi-sanity sends "some/path").
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: v.id, volume_path: 'some/path' })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: v.id, volume_path: `${v.staging}/../x` })), S.NOT_FOUND);
    assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: v.id, volume_path: '/a\u0001b' })), S.INVALID_ARGUMENT);
  });

  it('DeleteVolume of a volume staged on this node stays FAILED_PRECONDITION (in use)', async () => {
    const v = await published();
    await node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: mountCap() });
    assert.equal(await codeOf(ctl.DeleteVolume!({ volume_id: v.id })), S.FAILED_PRECONDITION);
    await node.NodeUnstageVolume!({ volume_id: v.id, staging_target_path: v.staging });
    await ctl.DeleteVolume!({ volume_id: v.id }); // now idle: unpublished and deleted
    assert.equal(await codeOf(ctl.ControllerGetVolume!({ volume_id: v.id })), S.NOT_FOUND);
  });

  it('an unknown volume is NOT_FOUND whatever the form of volume_path (checked before the path)', async () => {
    for (const path of ['some/path', '/x/../y']) {
      assert.equal(await codeOf(node.NodeGetVolumeStats!({ volume_id: 'fake-vol-id-1', volume_path: path })), S.NOT_FOUND, path);
      assert.equal(await codeOf(node.NodeExpandVolume!({ volume_id: 'fake-vol-id-1', volume_path: path })), S.NOT_FOUND, path);
    }
    // A known volume with a relative path to expand is still INVALID_ARGUMENT.
    const v = await published();
    assert.equal(await codeOf(node.NodeExpandVolume!({ volume_id: v.id, volume_path: 'some/path' })), S.INVALID_ARGUMENT);
  });

  it('FAILED_PRECONDITION: publish without staging path, stage of a volume not published to this node, block access on dir', async () => {
    const v = await published();
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: v.id, target_path: join(hostDir, 'fp-t'), volume_capability: mountCap() })), S.FAILED_PRECONDITION);
    assert.equal(await codeOf(node.NodeStageVolume!({ volume_id: v.id, staging_target_path: v.staging, volume_capability: blockCap() })), S.FAILED_PRECONDITION);
    const { volume } = await ctl.CreateVolume!({ name: `unpublished-${++n}`, volume_capabilities: [mountCap()], capacity_range: { required_bytes: MiB } });
    assert.equal(await codeOf(node.NodeStageVolume!({ volume_id: volume.volume_id, staging_target_path: v.staging, volume_capability: mountCap() })), S.FAILED_PRECONDITION);
    // Publishing before staging: the staging path holds no mount of the volume.
    assert.equal(await codeOf(node.NodePublishVolume!({ volume_id: v.id, staging_target_path: v.staging, target_path: join(hostDir, 'fp-t2'), volume_capability: mountCap() })), S.FAILED_PRECONDITION);
  });
});
