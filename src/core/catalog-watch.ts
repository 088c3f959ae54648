import type { ChangeBus } from './changes.js';
import { keys } from './keys.js';
import type { ServiceLedger } from './ledger.js';
import type { NodeRecord } from './model.js';
import type { Store } from './ports/store.js';

/**
 * Follows every write to the shared catalog, whichever replica made it (D42): pool and service
 * usage records go to the ledger that keeps them (placement inputs), and every changed key goes
 * to this process's change bus, so the offer feed recomputes for other replicas' writes as for
 * its own. After a possible gap (reconnect) the ledgers re-read and the feed recomputes. Returns
 * the function that stops the watch.
 */
export async function followCatalog(
  store: Store, ledgers: readonly ServiceLedger[], changes: ChangeBus, onNode?: (node: NodeRecord) => void,
): Promise<() => Promise<void>> {
  if (store.watch === undefined) return async () => undefined;
  return store.watch('', (e) => {
    const value = e.type === 'put' ? e.value : undefined;
    for (const l of ledgers) if (l.owns(e.key)) l.observe(e.key, value, e.revision);
    if (onNode && value !== undefined && e.key.startsWith(keys.nodes)) onNode(value as NodeRecord);
    changes.emit({ keys: [e.key] });
  }, () => {
    for (const l of ledgers) l.resync();
    changes.emit({ keys: [''] });
  });
}
