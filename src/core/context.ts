import type { ChangeBus } from './changes.js';
import { PollyError, notFound } from './errors.js';
import type { ServiceLedger } from './ledger.js';
import type { ServiceSpec } from './model.js';
import type { OfferIndex } from './offer-index.js';
import type { Placement } from './placement/placement.js';
import type { Clock } from './ports/clock.js';
import type { Logger } from './ports/logger.js';
import type { Store } from './ports/store.js';
import type { StorageDriver } from './ports/storage-driver.js';

/** What every use case works with; built once by the composition root. */
export interface CoreContext {
  readonly store: Store;
  readonly services: ReadonlyMap<string, ServiceSpec>;
  readonly drivers: ReadonlyMap<string, StorageDriver>;
  readonly ledgers: ReadonlyMap<string, ServiceLedger>;
  readonly placement: Placement;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Change notifications of committed writes (offers watch them). */
  readonly changes: ChangeBus;
  readonly claims: ClaimSettings;
  /** This host's node id when the process does node-side work (in-process agent); else absent. */
  readonly nodeId?: string;
  /** This replica's name when several share the store; stamped on the intents it writes. */
  readonly replica?: string;
  /** Offerable volumes in memory, kept current by `changes` (without it offers walk every volume). */
  readonly offerIndex?: OfferIndex;
}

/** Claim lifetimes: the TTL a claim gets when the accept names none, and the longest allowed. */
export interface ClaimSettings {
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
}

export const DEFAULT_CLAIM_SETTINGS: ClaimSettings = Object.freeze({ defaultTtlMs: 5 * 60_000, maxTtlMs: 60 * 60_000 });

export function serviceOf(ctx: CoreContext, name: string): { spec: ServiceSpec; driver: StorageDriver; ledger: ServiceLedger } {
  const spec = ctx.services.get(name);
  const driver = ctx.drivers.get(name);
  const ledger = ctx.ledgers.get(name);
  if (!spec || !driver || !ledger) throw notFound('service', name);
  return { spec, driver, ledger };
}

/** Turns a driver failure into a PollyError naming the operation. */
export function backendError(op: string, e: unknown): PollyError {
  if (e instanceof PollyError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new PollyError('BACKEND_ERROR', `${op} failed on the storage backend: ${message}`, {}, { cause: e });
}
