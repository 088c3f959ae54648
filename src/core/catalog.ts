import { assertAdmin, mayUseService } from './access.js';
import { serviceOf, type CoreContext } from './context.js';
import { invalid } from './errors.js';
import { checkText } from './names.js';
import type { Caller, ServiceSpec, ServiceUsage } from './model.js';
import type { ListPage } from './ports/store.js';
import type { DriverCapabilities } from './ports/storage-driver.js';
import { MAX_LIST_LIMIT } from './ports/store.js';
import type { PoolState } from './pool-state.js';

/** A service as callers see it: its spec without driver settings, its pools by name, its usage. */
export interface ServiceView extends Omit<ServiceSpec, 'pools' | 'driverConfig'> {
  readonly usage: ServiceUsage;
  readonly pools: readonly string[];
  readonly capabilities: Readonly<Record<string, boolean>>;
}

export function listServices(ctx: CoreContext, caller: Caller): ServiceView[] {
  return [...ctx.services.values()].filter((s) => mayUseService(caller, s.name)).map((s) => {
    const { driver, ledger } = serviceOf(ctx, s.name);
    return {
      name: s.name, driver: s.driver, ...(s.description ? { description: s.description } : {}),
      ...(s.defaultType ? { defaultType: s.defaultType } : {}), defaultSizeBytes: s.defaultSizeBytes,
      quota: s.quota, usage: ledger.usage, pools: s.pools.map((p) => p.name), capabilities: { ...driver.capabilities },
    };
  });
}

export interface PoolView {
  readonly id: string;
  readonly service: string;
  readonly name: string;
  readonly zone?: string;
  readonly node?: string;
  readonly types: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly totalBytes: number;
  readonly freeBytes: number;
  readonly capacityBytes: number;
  readonly provisionedBytes: number;
  readonly reservedBytes: number;
  readonly overcommit: number;
  readonly volumes: number;
  readonly maxIops: number;
  /** A pool a node contributes: what that node's driver can do there (once its agent answered). */
  readonly capabilities?: DriverCapabilities;
}

export function poolView(p: PoolState): PoolView {
  return {
    id: p.id, service: p.service, name: p.spec.name,
    ...(p.spec.zone !== undefined ? { zone: p.spec.zone } : {}), ...(p.spec.node !== undefined ? { node: p.spec.node } : {}),
    types: p.spec.types, labels: p.spec.labels, totalBytes: p.totalBytes, freeBytes: p.backendFreeBytes,
    capacityBytes: Math.floor(p.totalBytes * p.spec.overcommit), provisionedBytes: p.provisionedBytes,
    reservedBytes: p.reservedBytes, overcommit: p.spec.overcommit, volumes: p.volumes, maxIops: p.spec.maxIops,
  };
}

export function listPools(ctx: CoreContext, caller: Caller, service?: string): PoolView[] {
  const names = service !== undefined ? [serviceOf(ctx, service).spec.name] : [...ctx.services.keys()];
  return names.filter((n) => mayUseService(caller, n)).flatMap((n) => {
    const { driver, ledger } = serviceOf(ctx, n);
    return ledger.pools.map((p) => {
      const capabilities = driver.capabilitiesOf?.(p.spec.name);
      return capabilities === undefined ? poolView(p) : { ...poolView(p), capabilities };
    });
  });
}

/** Refreshes every pool's live capacity from its driver (only the pools `only` picks, when given). */
export async function refreshCapacity(ctx: CoreContext, only?: (pool: PoolState) => boolean): Promise<void> {
  for (const [name, ledger] of ctx.ledgers) {
    const driver = ctx.drivers.get(name)!;
    for (const pool of ledger.pools) {
      if (only && !only(pool)) continue;
      try {
        const cap = await driver.capacity(pool.spec.name);
        pool.totalBytes = cap.totalBytes;
        pool.backendFreeBytes = cap.freeBytes;
      } catch (e) {
        ctx.logger.warn({ err: e, pool: pool.id }, 'cannot read pool capacity');
      }
    }
  }
}

/** Raw store records, for `polly store get` (admin only). */
export async function dumpStore(ctx: CoreContext, caller: Caller, prefix = '', limit = 1000, after?: string): Promise<ListPage> {
  assertAdmin(caller, 'reading the store');
  if (prefix !== '') checkText('prefix', prefix);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw invalid('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return ctx.store.list(prefix, { limit, ...(after !== undefined ? { after } : {}) });
}

/** Wipes the catalog (`polly store erase`); backend volumes stay and show up as unmanaged. */
export async function eraseStore(ctx: CoreContext, caller: Caller): Promise<number> {
  assertAdmin(caller, 'erasing the store');
  const n = await ctx.store.erase('');
  for (const ledger of ctx.ledgers.values()) await ledger.load();
  ctx.logger.warn({ erased: n }, 'store erased');
  return n;
}
