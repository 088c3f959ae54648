import type { ListOptions, ListPage, Store, StoreRecord, TxnRequest, TxnResult } from './ports/store.js';

/** What changed in the catalog: the keys one committed write touched, or a capacity refresh. */
export interface CatalogChange {
  readonly keys: readonly string[];
}

export type ChangeListener = (change: CatalogChange) => void;

/**
 * Change notifications of this process: every committed write of core (volumes, usage,
 * claims, declines) and every capacity refresh. Listeners run synchronously after the commit
 * and must not throw; the offer feed uses them to recompute offers.
 */
export class ChangeBus {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  emit(change: CatalogChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // a listener's failure is its own; the write has committed
      }
    }
  }
}

/** A Store that reports every successful transaction to a ChangeBus. Reads pass straight through. */
export class NotifyingStore implements Store {
  readonly kind: string;

  readonly maxTxnOps?: number;
  readonly reachable?: () => boolean;
  readonly watch?: Store['watch'];
  readonly txnStaged?: Store['txnStaged'];

  constructor(private readonly inner: Store, private readonly bus: ChangeBus) {
    this.kind = inner.kind;
    // The optional capabilities of the store pass through (transaction limit, reachability, watch).
    if (inner.maxTxnOps !== undefined) this.maxTxnOps = inner.maxTxnOps;
    if (inner.reachable !== undefined) this.reachable = () => inner.reachable!();
    if (inner.watch !== undefined) this.watch = (prefix, onEvent, onResync) => inner.watch!(prefix, onEvent, onResync);
    if (inner.txnStaged !== undefined) {
      this.txnStaged = async (request) => {
        const staged = await inner.txnStaged!(request);
        if (staged.result.ok && request.ops.length > 0) this.bus.emit({ keys: request.ops.map((o) => o.key) });
        return staged;
      };
    }
  }

  get<T = unknown>(key: string): Promise<StoreRecord<T> | undefined> {
    return this.inner.get<T>(key);
  }

  getMany<T = unknown>(keys: readonly string[]): Promise<(StoreRecord<T> | undefined)[]> {
    return this.inner.getMany<T>(keys);
  }

  list<T = unknown>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    return this.inner.list<T>(prefix, options);
  }

  count(prefix: string): Promise<number> {
    return this.inner.count(prefix);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    const res = await this.inner.txn(request);
    if (res.ok && request.ops.length > 0) this.bus.emit({ keys: request.ops.map((o) => o.key) });
    return res;
  }

  ready(): Promise<boolean> {
    return this.inner.ready();
  }

  async erase(prefix: string): Promise<number> {
    const n = await this.inner.erase(prefix);
    this.bus.emit({ keys: [prefix] });
    return n;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
