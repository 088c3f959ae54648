import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from '../core/errors.js';
import type { ServiceSpec } from '../core/model.js';
import { DirDriver } from './dir/dir-driver.js';
import { createDriver, createDriverRegistry } from './registry.js';

const service = (driver: string): ServiceSpec => ({
  name: 'files',
  driver,
  defaultSizeBytes: 1024,
  quota: {},
  pools: [{ name: 'p1', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: '/srv/polly-registry-test' } }],
  driverConfig: {},
});

describe('driver registry', () => {
  it('knows the dir, image, btrfs and csi drivers', () => {
    const registry = createDriverRegistry();
    assert.deepEqual([...registry.keys()], ['dir', 'image', 'btrfs', 'csi']);
    const driver = createDriver(registry, service('dir'));
    assert.ok(driver instanceof DirDriver);
    assert.equal(driver.name, 'dir');
    assert.deepEqual(driver.pools(), ['p1']);
  });

  it('refuses an unknown driver naming the field and the accepted names', () => {
    assert.throws(
      () => createDriver(createDriverRegistry(), service('nfs')),
      (e: unknown) =>
        e instanceof PollyError &&
        e.code === 'INVALID_ARGUMENT' &&
        e.message === 'services.files.driver: unknown driver "nfs"; accepted: btrfs, csi, dir, image',
    );
  });

  it('returns a fresh map each time (no shared mutable registry)', () => {
    assert.notEqual(createDriverRegistry(), createDriverRegistry());
  });
});
