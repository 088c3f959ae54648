/**
 * CSI conformance, Identity and Controller services (spec v1.12, written from spec.md): every MUST
 * of the implemented RPCs — required fields, size limits, idempotency, paging, error codes,
 * capacity, snapshots, publish — against a real `polly server` over its unix socket.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { codeOf, grpc, type Msg } from './support/csi-client.js';
import { blockCap, mountCap, startCsiServer, type CsiServer } from './support/csi-server.js';
import { GiB, MiB, poolDir } from './support/polly-fixtures.js';
import { cleanup } from './support/server-process.js';

const S = grpc.status;
const LONG = { timeout: 120_000 };
const OTHER_NODE = 'node-b';

after(cleanup);

let h: CsiServer;
let ctl: Record<string, (r?: Msg) => Promise<Msg>>;
let names = 0;
const fresh = (prefix = 'csi') => `${prefix}-${++names}`;
const create = (extra: Msg = {}) => ctl.CreateVolume!({ name: fresh(), volume_capabilities: [mountCap()], capacity_range: { required_bytes: MiB }, ...extra });

before(async () => {
  h = await startCsiServer({
    csi: { nodes: [OTHER_NODE], defaultService: 'default' },
    services: {
      default: { driver: 'dir', pools: [{ name: 'local', capacity: '4Gi', maxIops: 1000 }] },
      zoned: { driver: 'dir', pools: [{ name: 'za', zone: 'a', capacity: '1Gi' }, { name: 'zb', zone: 'b', capacity: '1Gi' }] },
      small: { driver: 'dir', quota: { maxBytes: '8Mi' }, pools: [{ name: 'p', capacity: '1Gi' }] },
    },
  });
  ctl = h.csi.controller;
});
after(async () => h?.stop());

describe('Identity', () => {
  it('GetPluginInfo: a domain-style name and the version', async () => {
    const info = await h.csi.identity.GetPluginInfo!();
    assert.equal(info.name, 'csi.polly.io');
    assert.match(info.name, /^[a-z0-9.-]{1,63}$/);
    assert.match(info.vendor_version, /^\d+\.\d+\.\d+/);
  });

  it('GetPluginCapabilities: controller service, accessibility constraints, online expansion', async () => {
    const caps = (await h.csi.identity.GetPluginCapabilities!()).capabilities as Msg[];
    const services = caps.filter((c) => c.service).map((c) => c.service.type);
    assert.ok(services.includes('CONTROLLER_SERVICE'));
    assert.ok(services.includes('VOLUME_ACCESSIBILITY_CONSTRAINTS'));
    assert.ok(caps.some((c) => c.volume_expansion?.type === 'ONLINE'));
  });

  it('Probe: ready', async () => {
    assert.equal((await h.csi.identity.Probe!()).ready?.value, true);
  });
});

describe('ControllerGetCapabilities', () => {
  it('names every controller RPC Polly serves', async () => {
    const types = ((await ctl.ControllerGetCapabilities!()).capabilities as Msg[]).map((c) => c.rpc.type);
    for (const t of ['CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS',
      'CLONE_VOLUME', 'PUBLISH_READONLY', 'EXPAND_VOLUME', 'LIST_VOLUMES_PUBLISHED_NODES', 'VOLUME_CONDITION', 'GET_VOLUME', 'MODIFY_VOLUME']) {
      assert.ok(types.includes(t), t);
    }
  });
});

describe('CreateVolume', LONG, () => {
  it('INVALID_ARGUMENT for each missing required field', async () => {
    assert.equal(await codeOf(ctl.CreateVolume!({ volume_capabilities: [mountCap()] })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.CreateVolume!({ name: fresh() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.CreateVolume!({ name: fresh(), volume_capabilities: [{ mount: {} }] })), S.INVALID_ARGUMENT, 'no access mode');
    assert.equal(await codeOf(ctl.CreateVolume!({ name: fresh(), volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' } }] })), S.INVALID_ARGUMENT, 'no access type');
  });

  it('the message names the missing field', async () => {
    await assert.rejects(ctl.CreateVolume!({ name: fresh() }), (e: grpc.ServiceError) => e.code === S.INVALID_ARGUMENT && /volume_capabilities/.test(e.details));
  });

  it('field limits: strings over 128 bytes, maps over 4 KiB are INVALID_ARGUMENT', async () => {
    assert.equal(await codeOf(create({ name: 'n'.repeat(129) })), S.INVALID_ARGUMENT);
    const big: Record<string, string> = {};
    for (let i = 0; i < 40; i++) big[`k${i}`] = 'v'.repeat(120);
    assert.equal(await codeOf(create({ parameters: big })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(create({ secrets: big })), S.INVALID_ARGUMENT);
  });

  it('any spec-valid name works (csi-sanity uses "+"), idempotently; snapshots too; banned characters are INVALID_ARGUMENT', async () => {
    const name = `vol+1 ü/${fresh()}`;
    const a = await create({ name });
    const b = await create({ name });
    assert.equal(a.volume.volume_id, b.volume.volume_id, 'the same CSI name is the same volume');
    assert.notEqual((await create({ name: `${name}+` })).volume.volume_id, a.volume.volume_id);
    const snap = `snap+1 ${fresh()}`;
    const s1 = await ctl.CreateSnapshot!({ source_volume_id: a.volume.volume_id, name: snap });
    const s2 = await ctl.CreateSnapshot!({ source_volume_id: a.volume.volume_id, name: snap });
    assert.equal(s1.snapshot.snapshot_id, s2.snapshot.snapshot_id);
    assert.equal(await codeOf(create({ name: 'bad\u0085name' })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.CreateSnapshot!({ source_volume_id: a.volume.volume_id, name: 'bad\u0001' })), S.INVALID_ARGUMENT);
  });

  it('creates a volume of at least required_bytes and at most limit_bytes', async () => {
    const { volume } = await create({ capacity_range: { required_bytes: 3 * MiB, limit_bytes: 5 * MiB } });
    assert.ok(volume.capacity_bytes >= 3 * MiB && volume.capacity_bytes <= 5 * MiB);
    assert.match(volume.volume_id, /^vol-/);
    assert.ok(existsSync(join(poolDir(h.server, 'default', 'local'), 'volumes', volume.volume_id)), 'a real directory on the pool');
  });

  it('without capacity_range the service default size is used', async () => {
    const { volume } = await ctl.CreateVolume!({ name: fresh(), volume_capabilities: [mountCap()] });
    assert.equal(volume.capacity_bytes, GiB);
  });

  it('OUT_OF_RANGE when limit_bytes < required_bytes', async () => {
    assert.equal(await codeOf(create({ capacity_range: { required_bytes: 2 * MiB, limit_bytes: MiB } })), S.OUT_OF_RANGE);
  });

  it('is idempotent on name: same arguments give the same volume', async () => {
    const name = fresh();
    const a = await create({ name });
    const b = await create({ name });
    assert.equal(b.volume.volume_id, a.volume.volume_id);
    assert.equal(b.volume.capacity_bytes, a.volume.capacity_bytes);
    // A range that the existing size satisfies is the same request.
    const c = await create({ name, capacity_range: { required_bytes: MiB / 2, limit_bytes: 2 * MiB } });
    assert.equal(c.volume.volume_id, a.volume.volume_id);
  });

  it('ALREADY_EXISTS for the same name with an incompatible size', async () => {
    const name = fresh();
    await create({ name });
    assert.equal(await codeOf(create({ name, capacity_range: { required_bytes: 2 * MiB } })), S.ALREADY_EXISTS);
  });

  it('parameters select service, type and iops; an unknown service is INVALID_ARGUMENT', async () => {
    const { volume } = await create({ parameters: { service: 'zoned' } });
    assert.equal(volume.volume_context['polly.io/service'], 'zoned');
    const fast = await create({ parameters: { iops: '500' } });
    assert.ok(fast.volume.volume_id);
    assert.equal(await codeOf(create({ parameters: { service: 'nope' } })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(create({ parameters: { iops: 'fast' } })), S.INVALID_ARGUMENT);
  });

  it('RESOURCE_EXHAUSTED with the placement reasons when nothing fits', async () => {
    await assert.rejects(create({ capacity_range: { required_bytes: 64 * GiB } }),
      (e: grpc.ServiceError) => e.code === S.RESOURCE_EXHAUSTED && /pool default\/local: needs/.test(e.details));
    assert.equal(await codeOf(create({ parameters: { iops: '5000' } })), S.RESOURCE_EXHAUSTED, 'iops beyond every pool');
    assert.equal(await codeOf(create({ parameters: { service: 'small' }, capacity_range: { required_bytes: 16 * MiB } })), S.RESOURCE_EXHAUSTED, 'quota');
  });

  it('accessibility_requirements go into placement; accessible_topology comes back', async () => {
    const seg = (zone: string) => ({ segments: { 'topology.polly.io/zone': zone } });
    const { volume } = await create({ parameters: { service: 'zoned' }, accessibility_requirements: { requisite: [seg('b')], preferred: [seg('b')] } });
    assert.deepEqual(volume.accessible_topology, [seg('b')]);
    assert.equal(volume.volume_context['polly.io/pool'], 'zoned/zb');
    assert.equal(await codeOf(create({ parameters: { service: 'zoned' }, accessibility_requirements: { requisite: [seg('c')] } })), S.RESOURCE_EXHAUSTED);
    assert.equal(await codeOf(create({ accessibility_requirements: { requisite: [{ segments: { 'example.com/rack': 'r1' } }] } })), S.INVALID_ARGUMENT);
  });

  it('block access on a driver without block volumes is INVALID_ARGUMENT', async () => {
    assert.equal(await codeOf(create({ volume_capabilities: [blockCap()] })), S.INVALID_ARGUMENT);
  });

  it('volume_content_source: NOT_FOUND for a missing snapshot or volume; clones report their source', async () => {
    assert.equal(await codeOf(create({ volume_content_source: { snapshot: { snapshot_id: 'snap-missing' } } })), S.NOT_FOUND);
    assert.equal(await codeOf(create({ volume_content_source: { volume: { volume_id: 'vol-missing' } } })), S.NOT_FOUND);
    const src = await create();
    writeFileSync(join(poolDir(h.server, 'default', 'local'), 'volumes', src.volume.volume_id, 'hello.txt'), 'from the source');
    const clone = await create({ volume_content_source: { volume: { volume_id: src.volume.volume_id } } });
    assert.deepEqual(clone.volume.content_source?.volume, { volume_id: src.volume.volume_id });
    assert.ok(existsSync(join(poolDir(h.server, 'default', 'local'), 'volumes', clone.volume.volume_id, 'hello.txt')), 'data copied');
    assert.equal(await codeOf(create({ volume_content_source: { volume: { volume_id: src.volume.volume_id } }, capacity_range: { required_bytes: MiB / 2, limit_bytes: MiB / 2 } })), S.OUT_OF_RANGE, 'smaller than the source');
  });

  it('ABORTED for a second create of the same name while the first is in flight', async () => {
    const src = await create({ capacity_range: { required_bytes: 256 * MiB } });
    const dir = join(poolDir(h.server, 'default', 'local'), 'volumes', src.volume.volume_id);
    const chunk = Buffer.alloc(MiB, 7);
    for (let i = 0; i < 4; i++) {
      mkdirSync(join(dir, `d${i}`));
      for (let j = 0; j < 48; j++) writeFileSync(join(dir, `d${i}`, `f${j}`), chunk);
    }
    const name = fresh('slow');
    const args = { name, capacity_range: { required_bytes: 256 * MiB }, volume_content_source: { volume: { volume_id: src.volume.volume_id } } };
    const results = await Promise.allSettled([create(args), create(args)]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? S.OK : (r.reason as grpc.ServiceError).code)).sort();
    assert.deepEqual(codes, [S.OK, S.ABORTED]);
    const again = await create(args);
    assert.equal(again.volume.volume_id, (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Msg>).value.volume.volume_id);
  });
});

describe('DeleteVolume', () => {
  it('INVALID_ARGUMENT without volume_id', async () => {
    assert.equal(await codeOf(ctl.DeleteVolume!({})), S.INVALID_ARGUMENT);
  });

  it('deletes the volume and its directory; again, and for an unknown id, is OK', async () => {
    const { volume } = await create();
    const dir = join(poolDir(h.server, 'default', 'local'), 'volumes', volume.volume_id);
    assert.ok(existsSync(dir));
    await ctl.DeleteVolume!({ volume_id: volume.volume_id });
    assert.ok(!existsSync(dir));
    await ctl.DeleteVolume!({ volume_id: volume.volume_id });
    await ctl.DeleteVolume!({ volume_id: 'vol-never-was' });
    assert.equal(await codeOf(ctl.ControllerGetVolume!({ volume_id: volume.volume_id })), S.NOT_FOUND);
  });

  it('FAILED_PRECONDITION while the volume is published', async () => {
    const { volume } = await create();
    await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE, volume_capability: mountCap() });
    assert.equal(await codeOf(ctl.DeleteVolume!({ volume_id: volume.volume_id })), S.FAILED_PRECONDITION);
    await ctl.ControllerUnpublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE });
    await ctl.DeleteVolume!({ volume_id: volume.volume_id });
  });

  it('published to this node but neither staged nor mounted there: unpublished, then deleted', async () => {
    const { volume } = await create();
    const self = (await h.csi.node.NodeGetInfo!()).node_id;
    await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: self, volume_capability: mountCap() });
    await ctl.DeleteVolume!({ volume_id: volume.volume_id });
    assert.equal(await codeOf(ctl.ControllerGetVolume!({ volume_id: volume.volume_id })), S.NOT_FOUND);
    await ctl.ControllerUnpublishVolume!({ volume_id: volume.volume_id, node_id: self }); // the CO's late unpublish is OK
  });
});

describe('ControllerPublishVolume / ControllerUnpublishVolume', () => {
  it('INVALID_ARGUMENT for each missing required field', async () => {
    const { volume } = await create();
    const id = volume.volume_id;
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ node_id: OTHER_NODE, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ volume_id: id, volume_capability: mountCap() })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ volume_id: id, node_id: OTHER_NODE })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerUnpublishVolume!({ node_id: OTHER_NODE })), S.INVALID_ARGUMENT);
  });

  it('NOT_FOUND for an unknown volume or node', async () => {
    const { volume } = await create();
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ volume_id: 'vol-missing', node_id: OTHER_NODE, volume_capability: mountCap() })), S.NOT_FOUND);
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: 'no-such-node', volume_capability: mountCap() })), S.NOT_FOUND);
  });

  it('idempotent publish; ALREADY_EXISTS when published incompatibly; RWO held by one node', async () => {
    const { volume } = await create();
    const id = volume.volume_id;
    const first = await ctl.ControllerPublishVolume!({ volume_id: id, node_id: OTHER_NODE, volume_capability: mountCap() });
    assert.equal(typeof first.publish_context, 'object');
    await ctl.ControllerPublishVolume!({ volume_id: id, node_id: OTHER_NODE, volume_capability: mountCap() });
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ volume_id: id, node_id: OTHER_NODE, volume_capability: mountCap(), readonly: true })), S.ALREADY_EXISTS);
    const self = (await h.csi.node.NodeGetInfo!()).node_id as string;
    assert.equal(await codeOf(ctl.ControllerPublishVolume!({ volume_id: id, node_id: self, volume_capability: mountCap() })), S.FAILED_PRECONDITION);
    const got = await ctl.ControllerGetVolume!({ volume_id: id });
    assert.deepEqual(got.status.published_node_ids, [OTHER_NODE]);
    await ctl.ControllerUnpublishVolume!({ volume_id: id, node_id: OTHER_NODE });
    await ctl.ControllerUnpublishVolume!({ volume_id: id, node_id: OTHER_NODE });
    assert.deepEqual((await ctl.ControllerGetVolume!({ volume_id: id })).status.published_node_ids, []);
    await ctl.ControllerPublishVolume!({ volume_id: id, node_id: self, volume_capability: mountCap() });
    await ctl.ControllerUnpublishVolume!({ volume_id: id, node_id: self });
  });

  it('multi-node volumes publish to several nodes', async () => {
    const cap = mountCap('MULTI_NODE_MULTI_WRITER');
    const { volume } = await create({ volume_capabilities: [cap] });
    const self = (await h.csi.node.NodeGetInfo!()).node_id as string;
    await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE, volume_capability: cap });
    await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: self, volume_capability: cap });
    const got = await ctl.ControllerGetVolume!({ volume_id: volume.volume_id });
    assert.deepEqual([...got.status.published_node_ids].sort(), [OTHER_NODE, self].sort());
    await ctl.ControllerUnpublishVolume!({ volume_id: volume.volume_id }); // no node_id: from every node
    assert.deepEqual((await ctl.ControllerGetVolume!({ volume_id: volume.volume_id })).status.published_node_ids, []);
  });

  it('unpublishing an unknown volume is OK (it counts as unpublished)', async () => {
    await ctl.ControllerUnpublishVolume!({ volume_id: 'vol-missing', node_id: OTHER_NODE });
  });
});

describe('ValidateVolumeCapabilities', () => {
  it('INVALID_ARGUMENT without volume_id or capabilities; NOT_FOUND for an unknown volume', async () => {
    const { volume } = await create();
    assert.equal(await codeOf(ctl.ValidateVolumeCapabilities!({ volume_capabilities: [mountCap()] })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ValidateVolumeCapabilities!({ volume_id: volume.volume_id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ValidateVolumeCapabilities!({ volume_id: 'vol-missing', volume_capabilities: [mountCap()] })), S.NOT_FOUND);
  });

  it('confirms supported capabilities and refuses block ones', async () => {
    const { volume } = await create();
    const ok = await ctl.ValidateVolumeCapabilities!({ volume_id: volume.volume_id, volume_capabilities: [mountCap(), mountCap('MULTI_NODE_READER_ONLY')] });
    assert.equal(ok.confirmed.volume_capabilities.length, 2);
    const no = await ctl.ValidateVolumeCapabilities!({ volume_id: volume.volume_id, volume_capabilities: [blockCap()] });
    assert.equal(no.confirmed, null);
    assert.ok(no.message.length > 0);
  });
});

describe('ListVolumes', () => {
  it('pages with max_entries / starting_token through every volume exactly once', async () => {
    for (let i = 0; i < 5; i++) await create();
    const seen: string[] = [];
    let token = '';
    for (let page = 0; page < 1000; page++) {
      const res = await ctl.ListVolumes!({ max_entries: 2, starting_token: token });
      assert.ok(res.entries.length <= 2);
      seen.push(...res.entries.map((e: Msg) => e.volume.volume_id));
      token = res.next_token;
      if (token === '') break;
    }
    const all = await ctl.ListVolumes!({});
    assert.equal(all.next_token, '');
    assert.deepEqual(seen, all.entries.map((e: Msg) => e.volume.volume_id));
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.length >= 5);
  });

  it('ABORTED for a starting_token it did not hand out; INVALID_ARGUMENT for negative max_entries', async () => {
    assert.equal(await codeOf(ctl.ListVolumes!({ starting_token: 'not-a-token' })), S.ABORTED);
    assert.equal(await codeOf(ctl.ListVolumes!({ max_entries: -1 })), S.INVALID_ARGUMENT);
  });

  it('entries carry published node ids and the volume condition', async () => {
    const { volume } = await create();
    await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE, volume_capability: mountCap() });
    const entry = ((await ctl.ListVolumes!({})).entries as Msg[]).find((e) => e.volume.volume_id === volume.volume_id)!;
    assert.deepEqual(entry.status.published_node_ids, [OTHER_NODE]);
    assert.equal(entry.status.volume_condition.abnormal, false);
    await ctl.ControllerUnpublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE });
  });
});

describe('GetCapacity', () => {
  it('reports what placement can still give, shrinking as volumes are made', async () => {
    const before = await ctl.GetCapacity!({ parameters: { service: 'zoned' } });
    assert.ok(before.available_capacity > 0 && before.available_capacity <= 2 * GiB);
    assert.ok(before.maximum_volume_size.value <= GiB, 'one pool holds a volume');
    await create({ parameters: { service: 'zoned' }, capacity_range: { required_bytes: 100 * MiB } });
    const after_ = await ctl.GetCapacity!({ parameters: { service: 'zoned' } });
    assert.equal(after_.available_capacity, before.available_capacity - 100 * MiB);
  });

  it('honours accessible_topology, iops, block capabilities and quotas', async () => {
    const zoneA = await ctl.GetCapacity!({ parameters: { service: 'zoned' }, accessible_topology: { segments: { 'topology.polly.io/zone': 'a' } } });
    assert.ok(zoneA.available_capacity > 0 && zoneA.available_capacity <= GiB);
    const zoneC = await ctl.GetCapacity!({ parameters: { service: 'zoned' }, accessible_topology: { segments: { 'topology.polly.io/zone': 'c' } } });
    assert.equal(zoneC.available_capacity, 0);
    assert.equal((await ctl.GetCapacity!({ parameters: { iops: '5000' } })).available_capacity, 0);
    assert.equal((await ctl.GetCapacity!({ volume_capabilities: [blockCap()] })).available_capacity, 0);
    assert.ok((await ctl.GetCapacity!({ parameters: { service: 'small' } })).available_capacity <= 8 * MiB);
    assert.equal(await codeOf(ctl.GetCapacity!({ parameters: { service: 'nope' } })), S.INVALID_ARGUMENT);
  });
});

describe('Snapshots', () => {
  it('CreateSnapshot: INVALID_ARGUMENT for missing fields, NOT_FOUND for a missing source', async () => {
    const { volume } = await create();
    assert.equal(await codeOf(ctl.CreateSnapshot!({ name: fresh('s') })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.CreateSnapshot!({ source_volume_id: volume.volume_id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.CreateSnapshot!({ source_volume_id: 'vol-missing', name: fresh('s') })), S.NOT_FOUND);
  });

  it('is idempotent on name; ALREADY_EXISTS for the name on another volume; restores into a new volume', async () => {
    const a = await create();
    const b = await create();
    writeFileSync(join(poolDir(h.server, 'default', 'local'), 'volumes', a.volume.volume_id, 'data.txt'), 'snapshotted');
    const name = fresh('s');
    const s1 = await ctl.CreateSnapshot!({ source_volume_id: a.volume.volume_id, name });
    assert.equal(s1.snapshot.ready_to_use, true);
    assert.equal(s1.snapshot.source_volume_id, a.volume.volume_id);
    assert.ok(Number(s1.snapshot.creation_time.seconds) > 0);
    const s2 = await ctl.CreateSnapshot!({ source_volume_id: a.volume.volume_id, name });
    assert.equal(s2.snapshot.snapshot_id, s1.snapshot.snapshot_id);
    assert.equal(await codeOf(ctl.CreateSnapshot!({ source_volume_id: b.volume.volume_id, name })), S.ALREADY_EXISTS);
    const restored = await create({ volume_content_source: { snapshot: { snapshot_id: s1.snapshot.snapshot_id } } });
    assert.deepEqual(restored.volume.content_source.snapshot, { snapshot_id: s1.snapshot.snapshot_id });
    assert.ok(existsSync(join(poolDir(h.server, 'default', 'local'), 'volumes', restored.volume.volume_id, 'data.txt')));
  });

  it('ListSnapshots: by id, by source volume, paged; ABORTED on a bad token', async () => {
    const { volume } = await create();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await ctl.CreateSnapshot!({ source_volume_id: volume.volume_id, name: fresh('s') })).snapshot.snapshot_id);
    const byId = await ctl.ListSnapshots!({ snapshot_id: ids[1] });
    assert.deepEqual(byId.entries.map((e: Msg) => e.snapshot.snapshot_id), [ids[1]]);
    assert.deepEqual((await ctl.ListSnapshots!({ snapshot_id: 'snap-missing' })).entries, []);
    const bySource = await ctl.ListSnapshots!({ source_volume_id: volume.volume_id });
    assert.deepEqual(bySource.entries.map((e: Msg) => e.snapshot.snapshot_id).sort(), [...ids].sort());
    assert.deepEqual((await ctl.ListSnapshots!({ source_volume_id: 'vol-missing' })).entries, []);
    const paged: string[] = [];
    let token = '';
    do {
      const res = await ctl.ListSnapshots!({ source_volume_id: volume.volume_id, max_entries: 1, starting_token: token });
      assert.ok(res.entries.length <= 1);
      paged.push(...res.entries.map((e: Msg) => e.snapshot.snapshot_id));
      token = res.next_token;
    } while (token !== '');
    assert.deepEqual(paged.sort(), [...ids].sort());
    assert.equal(await codeOf(ctl.ListSnapshots!({ starting_token: 'bogus' })), S.ABORTED);
  });

  it('DeleteSnapshot: INVALID_ARGUMENT without id; deletes; an unknown id is OK', async () => {
    const { volume } = await create();
    const { snapshot } = await ctl.CreateSnapshot!({ source_volume_id: volume.volume_id, name: fresh('s') });
    assert.equal(await codeOf(ctl.DeleteSnapshot!({})), S.INVALID_ARGUMENT);
    await ctl.DeleteSnapshot!({ snapshot_id: snapshot.snapshot_id });
    await ctl.DeleteSnapshot!({ snapshot_id: snapshot.snapshot_id });
    assert.deepEqual((await ctl.ListSnapshots!({ snapshot_id: snapshot.snapshot_id })).entries, []);
    assert.equal(await codeOf(ctl.GetSnapshot!({ snapshot_id: snapshot.snapshot_id })), S.NOT_FOUND);
  });
});

describe('ControllerExpandVolume', () => {
  it('INVALID_ARGUMENT for missing fields; NOT_FOUND for an unknown volume', async () => {
    const { volume } = await create();
    assert.equal(await codeOf(ctl.ControllerExpandVolume!({ capacity_range: { required_bytes: 2 * MiB } })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerExpandVolume!({ volume_id: volume.volume_id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerExpandVolume!({ volume_id: 'vol-missing', capacity_range: { required_bytes: 2 * MiB } })), S.NOT_FOUND);
  });

  it('grows the volume (idempotently), online, and counts the bytes against the pool', async () => {
    const { volume } = await create({ parameters: { service: 'zoned' } });
    const cap0 = (await ctl.GetCapacity!({ parameters: { service: 'zoned' } })).available_capacity;
    const grown = await ctl.ControllerExpandVolume!({ volume_id: volume.volume_id, capacity_range: { required_bytes: 10 * MiB } });
    assert.ok(grown.capacity_bytes >= 10 * MiB);
    assert.equal(grown.node_expansion_required, false);
    const again = await ctl.ControllerExpandVolume!({ volume_id: volume.volume_id, capacity_range: { required_bytes: 10 * MiB } });
    assert.equal(again.capacity_bytes, grown.capacity_bytes);
    assert.equal((await ctl.ControllerGetVolume!({ volume_id: volume.volume_id })).volume.capacity_bytes, grown.capacity_bytes);
    assert.equal((await ctl.GetCapacity!({ parameters: { service: 'zoned' } })).available_capacity, cap0 - 9 * MiB);
    await ctl.ControllerPublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE, volume_capability: mountCap() });
    const online = await ctl.ControllerExpandVolume!({ volume_id: volume.volume_id, capacity_range: { required_bytes: 12 * MiB } });
    assert.equal(online.capacity_bytes, 12 * MiB);
    await ctl.ControllerUnpublishVolume!({ volume_id: volume.volume_id, node_id: OTHER_NODE });
  });

  it('RESOURCE_EXHAUSTED beyond the pool; OUT_OF_RANGE when the volume is already above limit_bytes', async () => {
    const { volume } = await create({ capacity_range: { required_bytes: 4 * MiB } });
    assert.equal(await codeOf(ctl.ControllerExpandVolume!({ volume_id: volume.volume_id, capacity_range: { required_bytes: 64 * GiB } })), S.RESOURCE_EXHAUSTED);
    assert.equal(await codeOf(ctl.ControllerExpandVolume!({ volume_id: volume.volume_id, capacity_range: { required_bytes: MiB, limit_bytes: 2 * MiB } })), S.OUT_OF_RANGE);
  });
});

describe('ControllerGetVolume / ControllerModifyVolume', () => {
  it('GetVolume: INVALID_ARGUMENT without id, NOT_FOUND for an unknown one, the volume with its condition', async () => {
    const { volume } = await create();
    assert.equal(await codeOf(ctl.ControllerGetVolume!({})), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerGetVolume!({ volume_id: 'vol-missing' })), S.NOT_FOUND);
    const got = await ctl.ControllerGetVolume!({ volume_id: volume.volume_id });
    assert.equal(got.volume.volume_id, volume.volume_id);
    assert.equal(got.status.volume_condition.abnormal, false);
  });

  it('ModifyVolume changes iops; unknown keys and impossible values are INVALID_ARGUMENT', async () => {
    const { volume } = await create();
    const id = volume.volume_id;
    await ctl.ControllerModifyVolume!({ volume_id: id, mutable_parameters: { iops: '800' } });
    await ctl.ControllerModifyVolume!({ volume_id: id, mutable_parameters: { iops: '800' } });
    assert.equal(await codeOf(ctl.ControllerModifyVolume!({ volume_id: id, mutable_parameters: { iops: '2000' } })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerModifyVolume!({ volume_id: id, mutable_parameters: { colour: 'red' } })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerModifyVolume!({ volume_id: id })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerModifyVolume!({ mutable_parameters: { iops: '1' } })), S.INVALID_ARGUMENT);
    assert.equal(await codeOf(ctl.ControllerModifyVolume!({ volume_id: 'vol-missing', mutable_parameters: { iops: '1' } })), S.NOT_FOUND);
  });
});
