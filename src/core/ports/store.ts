/**
 * Store port: a revisioned key/value catalog.
 *
 * Contract (checked by src/store/store-contract.ts against every implementation):
 * - Every successful transaction that changes something bumps the store's global revision by
 *   exactly one; each key it puts gets that revision as its `revision` (etcd's mod_revision).
 *   Revisions are > 0. (A transaction that changes nothing may leave the revision as it is.)
 * - `txn` is atomic: either every compare holds and every op is applied, or nothing is applied.
 *   A compare with `revision: 0` means "the key must not exist".
 * - `list` returns keys with the given prefix in ascending byte order, at most `limit` of them,
 *   strictly after `after` when given; `next` is set when more keys follow.
 * - Values are JSON-serialisable plain data; what `get` returns is a fresh copy.
 * - An acknowledged transaction is durable (survives a crash of the process and of the machine).
 */
export interface StoreRecord<T = unknown> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

export interface ListOptions {
  /** Return only keys strictly greater than this one (cursor). */
  readonly after?: string;
  /** Maximum number of records; implementations cap it (see MAX_LIST_LIMIT). */
  readonly limit?: number;
}

export interface ListPage<T = unknown> {
  readonly records: StoreRecord<T>[];
  /** The last key of this page when more records follow; pass it as `after`. */
  readonly next?: string;
}

export interface TxnCompare {
  readonly key: string;
  /** Expected mod revision of the key; 0 means the key must not exist. */
  readonly revision: number;
}

export type TxnOp =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown }
  | { readonly type: 'delete'; readonly key: string };

export interface TxnRequest {
  readonly compares: readonly TxnCompare[];
  readonly ops: readonly TxnOp[];
  /**
   * `durable` (the default): on disk when the promise settles. `deferred`: visible at once and
   * kept if the process dies, but a power loss or OS crash may undo it until the next durable
   * write has committed — writes are ordered, so a durable write makes every earlier one durable
   * too. For intents whose loss the reconciler can tell apart (docs/decisions.md D90). A store
   * whose every write is durable may ignore it.
   */
  readonly durability?: 'durable' | 'deferred';
}

export interface TxnResult {
  readonly ok: boolean;
  /** The new store revision when ok, else the current one. */
  readonly revision: number;
  /** Keys whose compare failed (when !ok). */
  readonly failed?: readonly string[];
}

/** A transaction whose outcome is known, and the promise of its durability (see Store.txnStaged). */
export interface StagedTxn {
  readonly result: TxnResult;
  readonly durable: Promise<void>;
}

export const MAX_LIST_LIMIT = 10_000;

/** A change seen by a watch (stores shared by several processes offer them). */
export type StoreEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown; readonly revision: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

export interface Store {
  /** A short name of the implementation, e.g. "sqlite" or "etcd". */
  readonly kind: string;
  get<T = unknown>(key: string): Promise<StoreRecord<T> | undefined>;
  getMany<T = unknown>(keys: readonly string[]): Promise<(StoreRecord<T> | undefined)[]>;
  list<T = unknown>(prefix: string, options?: ListOptions): Promise<ListPage<T>>;
  count(prefix: string): Promise<number>;
  txn(request: TxnRequest): Promise<TxnResult>;
  /**
   * Optional: as txn, but answers once the outcome is known — committed and visible — with
   * `durable` settling when txn would have (a durable write on disk; it rejects if that failed).
   * Lets a single writer (the ledger) plan its next write while the disk syncs this one. Stores
   * whose commit is the sync (etcd) need not offer it.
   */
  txnStaged?(request: TxnRequest): Promise<StagedTxn>;
  /** True when the store can serve reads and writes. */
  ready(): Promise<boolean>;
  /** Removes every key under the prefix (used by `polly store erase`); returns how many. */
  erase(prefix: string): Promise<number>;
  /**
   * Present on networked stores: false while the last request failed because the backend was
   * unreachable (true again after the next success). Answers from caches may be stale then.
   */
  reachable?(): boolean;
  /**
   * The most ops (and compares) one transaction may carry; unlimited when absent. Writers that
   * batch (the ledger) keep their transactions within it.
   */
  readonly maxTxnOps?: number;
  /**
   * Present on stores that other processes write too: resolves once a watch on `prefix` is in
   * place; from then on calls `onEvent` for every change under it, in revision order (resuming
   * after reconnects), until the function it resolved to is called. `onResync` is called when
   * events may have been missed (after a reconnect, or a watch the store had to set up anew):
   * whoever caches should re-read.
   */
  watch?(prefix: string, onEvent: (event: StoreEvent) => void, onResync?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
