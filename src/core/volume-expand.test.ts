import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from './errors.js';
import { ADMIN } from './model.js';
import { withDirWorld } from './testing/dir-world.js';
import { MiB } from './units.js';

const rejectsWith = (p: Promise<unknown>, code: string) => assert.rejects(p, (e: unknown) => e instanceof PollyError && e.code === code);

describe('expandVolume', () => {
  it('grows the volume and the pool and service usage together; never shrinks; repeats are fine', () =>
    withDirWorld([{ name: 'p', capacityBytes: 64 * MiB }], async (polly) => {
      const { volume } = await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: 4 * MiB });
      const r = await polly.expandVolume(ADMIN, volume.id, 10 * MiB);
      assert.equal(r.expanded, true);
      assert.equal(r.volume.sizeBytes, 10 * MiB);
      assert.equal((await polly.getVolume(ADMIN, volume.id)).sizeBytes, 10 * MiB);
      const pool = polly.listPools(ADMIN)[0]!;
      assert.equal(pool.provisionedBytes, 10 * MiB);
      assert.equal(polly.listServices(ADMIN)[0]!.usage.bytes, 10 * MiB);
      const again = await polly.expandVolume(ADMIN, volume.id, 8 * MiB);
      assert.equal(again.expanded, false);
      assert.equal(again.volume.sizeBytes, 10 * MiB);
      await rejectsWith(polly.expandVolume(ADMIN, volume.id, 65 * MiB), 'INSUFFICIENT_CAPACITY');
      assert.equal((await polly.getVolume(ADMIN, volume.id)).sizeBytes, 10 * MiB);
    }));

  it('QUOTA_EXCEEDED beyond the quota, nothing changed; bad input refused', () =>
    withDirWorld([{ name: 'p', capacityBytes: 16 * MiB }], async (polly) => {
      const { volume } = await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: 4 * MiB });
      await rejectsWith(polly.expandVolume(ADMIN, volume.id, 9 * MiB), 'QUOTA_EXCEEDED');
      assert.equal((await polly.getVolume(ADMIN, volume.id)).sizeBytes, 4 * MiB);
      assert.equal(polly.listPools(ADMIN)[0]!.provisionedBytes, 4 * MiB);
      await rejectsWith(polly.expandVolume(ADMIN, 'vol-missing', 9 * MiB), 'NOT_FOUND');
      await rejectsWith(polly.expandVolume(ADMIN, volume.id, -1), 'INVALID_ARGUMENT');
    }, { maxBytes: 8 * MiB }));
});

describe('modifyVolume', () => {
  it('sets iops within what the pool gives; refuses more', () =>
    withDirWorld([{ name: 'p', capacityBytes: 64 * MiB, maxIops: 500 }], async (polly) => {
      const { volume } = await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: MiB });
      assert.equal((await polly.modifyVolume(ADMIN, volume.id, { iops: 400 })).iops, 400);
      await rejectsWith(polly.modifyVolume(ADMIN, volume.id, { iops: 501 }), 'INVALID_ARGUMENT');
      await rejectsWith(polly.modifyVolume(ADMIN, volume.id, { iops: 1.5 }), 'INVALID_ARGUMENT');
      assert.equal((await polly.getVolume(ADMIN, volume.id)).iops, 400);
    }));
});

describe('capacityFor', () => {
  it('adds the free bytes of the pools that fit the shape; the largest one is the maximum volume size', () =>
    withDirWorld([{ name: 'a', zone: 'za', capacityBytes: 32 * MiB, maxIops: 100 }, { name: 'b', zone: 'zb', capacityBytes: 16 * MiB }], async (polly) => {
      const all = polly.capacityFor(ADMIN, { service: 'default' });
      assert.equal(all.availableBytes, 48 * MiB);
      assert.equal(all.maximumVolumeBytes, 32 * MiB);
      assert.deepEqual(polly.capacityFor(ADMIN, { service: 'default', zones: ['zb'] }).availableBytes, 16 * MiB);
      assert.deepEqual(polly.capacityFor(ADMIN, { service: 'default', iops: 50 }).pools, ['default/a']);
      assert.equal(polly.capacityFor(ADMIN, { service: 'default', zones: ['zc'] }).availableBytes, 0);
      await polly.createVolume(ADMIN, { service: 'default', name: 'v', sizeBytes: 8 * MiB, zones: ['za'] });
      assert.equal(polly.capacityFor(ADMIN, { service: 'default' }).availableBytes, 40 * MiB);
      assert.throws(() => polly.capacityFor(ADMIN, { service: 'nope' }), (e: unknown) => e instanceof PollyError && e.code === 'NOT_FOUND');
    }));

  it('the service quota caps both figures', () =>
    withDirWorld([{ name: 'a', capacityBytes: 32 * MiB }], async (polly) => {
      const c = polly.capacityFor(ADMIN, { service: 'default' });
      assert.equal(c.availableBytes, 4 * MiB);
      assert.equal(c.maximumVolumeBytes, 4 * MiB);
    }, { maxBytes: 4 * MiB }));
});

describe('InFlight', () => {
  it('refuses a second operation on a key in flight with IN_PROGRESS, and frees the key afterwards', () =>
    withDirWorld([{ name: 'a', capacityBytes: MiB }], async (polly) => {
      let release!: () => void;
      const first = polly.inFlight.run(['volume:x'], 'first', () => new Promise<void>((r) => { release = r; }));
      await rejectsWith(polly.inFlight.run(['volume:x'], 'second', async () => undefined), 'IN_PROGRESS');
      assert.equal(await polly.inFlight.run(['volume:y'], 'other', async () => 7), 7);
      release();
      await first;
      assert.equal(polly.inFlight.has('volume:x'), false);
      await rejectsWith(polly.inFlight.run(['volume:x'], 'fails', async () => { throw new PollyError('INTERNAL', 'x'); }), 'INTERNAL');
      assert.equal(polly.inFlight.has('volume:x'), false);
    }));
});
