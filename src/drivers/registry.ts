import { invalid } from '../core/errors.js';
import type { ServiceSpec } from '../core/model.js';
import type { StorageDriver } from '../core/ports/storage-driver.js';
import { createBtrfsDriver } from './btrfs/btrfs-driver.js';
import { createCsiDriver } from './csi/csi-driver.js';
import { createDirDriver } from './dir/dir-driver.js';
import { createImageDriver } from './image/image-driver.js';

/** Builds the driver instance of one service from its configuration. */
export type DriverFactory = (service: ServiceSpec) => StorageDriver;

/** Every storage driver Polly knows, by the name services use in `driver:`. */
export function createDriverRegistry(): ReadonlyMap<string, DriverFactory> {
  return new Map<string, DriverFactory>([
    ['dir', createDirDriver],
    ['image', createImageDriver],
    ['btrfs', createBtrfsDriver],
    ['csi', createCsiDriver],
  ]);
}

/** The driver of a service; INVALID_ARGUMENT naming `services.<name>.driver` for an unknown driver. */
export function createDriver(registry: ReadonlyMap<string, DriverFactory>, service: ServiceSpec): StorageDriver {
  const factory = registry.get(service.driver);
  if (!factory) {
    throw invalid(`services.${service.name}.driver`, `unknown driver ${JSON.stringify(service.driver)}; accepted: ${[...registry.keys()].sort().join(', ')}`, {
      accepted: [...registry.keys()].sort(),
    });
  }
  return factory(service);
}
