import type { PoolSpec, PoolUsage } from './model.js';
import type { PoolCandidate } from './placement/types.js';

export interface UsageDelta {
  readonly provisionedBytes?: number;
  readonly reservedBytes?: number;
  readonly volumes?: number;
}

/**
 * The live view of one pool: its spec, its committed usage record (with the store revision it
 * was read at) and the backend's capacity. Placement reads it; only the ledger changes it.
 */
export class PoolState implements PoolCandidate {
  provisionedBytes = 0;
  reservedBytes = 0;
  volumes = 0;
  /** Store revision of the usage record (0: no record yet). */
  revision = 0;
  /** Usable bytes before overcommit; refreshed from the driver. */
  totalBytes: number;
  /** Bytes free on the backend at the last refresh. */
  backendFreeBytes = 0;

  constructor(
    readonly id: string,
    readonly service: string,
    readonly spec: PoolSpec,
  ) {
    this.totalBytes = spec.capacityBytes ?? 0;
  }

  setUsage(usage: PoolUsage | undefined, revision: number): void {
    this.provisionedBytes = usage?.provisionedBytes ?? 0;
    this.reservedBytes = usage?.reservedBytes ?? 0;
    this.volumes = usage?.volumes ?? 0;
    this.revision = revision;
  }

  apply(delta: UsageDelta, sign: 1 | -1 = 1): void {
    this.provisionedBytes += sign * (delta.provisionedBytes ?? 0);
    this.reservedBytes += sign * (delta.reservedBytes ?? 0);
    this.volumes += sign * (delta.volumes ?? 0);
  }

  toRecord(): PoolUsage {
    return {
      id: this.id, service: this.service, pool: this.spec.name,
      provisionedBytes: this.provisionedBytes, reservedBytes: this.reservedBytes, volumes: this.volumes,
    };
  }
}
