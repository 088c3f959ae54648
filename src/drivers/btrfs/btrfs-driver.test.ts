import path from 'node:path';
import { driverContract } from '../driver-contract.js';
import { nodeContract } from '../node-contract.js';
import { cleanupHostDir } from '../node/testing/host-cleanup.js';
import { createBtrfsDriver } from './btrfs-driver.js';
import { btrfsPoolFs, btrfsService } from './btrfs-test-pool.js';

driverContract('btrfs', async () => {
  const { tmp, root } = await btrfsPoolFs();
  return { driver: createBtrfsDriver(btrfsService(root)), pool: 'p1', cleanup: () => cleanupHostDir(tmp), pathOf: (ref) => path.join(root, 'volumes', ref.backendId) };
});

nodeContract('btrfs', async () => {
  const { tmp, root, hostDir } = await btrfsPoolFs();
  const service = btrfsService(root);
  return { driver: createBtrfsDriver(service), pool: 'p1', hostDir, reopen: () => createBtrfsDriver(service), cleanup: () => cleanupHostDir(tmp), sizedStats: true };
});
