import { keys } from './keys.js';
import type { ServiceLedger } from './ledger.js';
import type { Store } from './ports/store.js';

/**
 * Routes every change of a pool or service usage record (made by any replica) to the ledger that
 * keeps it, so each replica's placement inputs stay current without polling. Returns the
 * functions that stop the watches.
 */
export async function followUsage(store: Store, ledgers: readonly ServiceLedger[]): Promise<(() => Promise<void>)[]> {
  if (store.watch === undefined) return [];
  const route = (key: string, value: unknown, revision: number) => {
    for (const l of ledgers) if (l.owns(key)) l.observe(key, value, revision);
  };
  const stops: (() => Promise<void>)[] = [];
  for (const prefix of [keys.pools, keys.serviceUsages]) {
    stops.push(await store.watch(prefix, (e) => route(e.key, e.type === 'put' ? e.value : undefined, e.revision), () => {
      for (const l of ledgers) l.resync();
    }));
  }
  return stops;
}
