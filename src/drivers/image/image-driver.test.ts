import { driverContract } from '../driver-contract.js';
import { nodeContract } from '../node-contract.js';
import { cleanupHostDir } from '../node/testing/host-cleanup.js';
import { createImageDriver } from './image-driver.js';
import { imagePoolFs, imageService } from './image-test-pool.js';

for (const fsType of ['ext4', 'btrfs'] as const) {
  const label = `image on ${fsType} (${fsType === 'btrfs' ? 'reflink' : 'sparse copy'})`;
  driverContract(label, async () => {
    const { tmp, root } = await imagePoolFs(fsType);
    return { driver: createImageDriver(imageService(root)), pool: 'p1', cleanup: () => cleanupHostDir(tmp) };
  });
  nodeContract(label, async () => {
    const { tmp, root, hostDir } = await imagePoolFs(fsType);
    const service = imageService(root);
    return { driver: createImageDriver(service), pool: 'p1', hostDir, reopen: () => createImageDriver(service), cleanup: () => cleanupHostDir(tmp), sizedStats: true };
  });
}
