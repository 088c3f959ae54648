import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop, type IBackoff } from 'cockatiel';
import { Etcd3, type IKeyValue, type IOptions, type Watcher } from 'etcd3';
import { PollyError, invalid } from '../../core/errors.js';
import type {
  ListOptions, ListPage, Store, StoreEvent, StoreRecord, TxnRequest, TxnResult,
} from '../../core/ports/store.js';
import { checkKey, checkListOptions, checkPrefix, prepareTxn } from '../validate.js';
import { etcdError, isConnectionError, neverSent } from './etcd-errors.js';
import { bytePrefixEnd } from './byte-prefix-end.js';

export interface EtcdStoreOptions {
  /** `http://host:port` or `https://host:port` client URLs of the cluster's members. */
  readonly endpoints: readonly string[];
  /** Every key Polly writes starts with this (default `/polly/`). */
  readonly prefix?: string;
  /** PEM contents (not paths) for TLS; `ca` alone for server verification only. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of one request (default 5000 ms): an unreachable cluster fails a call after this. */
  readonly timeoutMs?: number;
  /** The cluster's `--max-txn-ops` (default 128, etcd's default). */
  readonly maxTxnOps?: number;
}

export const DEFAULT_ETCD_PREFIX = '/polly/';
const DEFAULT_TIMEOUT_MS = 5000;
const PREFIX = /^[\x21-\x7e]{0,255}\/$/;
const DEFAULT_MAX_TXN_OPS = 128;

/**
 * The HA Store on an etcd v3 cluster. Keys live under a prefix; each Store transaction is one
 * etcd Txn whose compares are on mod_revision (0 = the key must not exist), so atomicity and
 * revisions are etcd's own: a successful txn with writes takes one cluster revision and every
 * key it puts carries it. Reads are linearizable. Nothing is retried automatically: a write that
 * cannot reach a quorum within the timeout fails with UNAVAILABLE (retryable) and, being one
 * Txn, was applied either completely or not at all.
 */
export class EtcdStore implements Store {
  readonly kind = 'etcd';
  readonly maxTxnOps: number;
  readonly prefix: string;
  private readonly timeoutMs: number;
  private closed = false;
  private lastReachable = true;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly watchers = new Set<{ cancel(): Promise<void> }>();

  private constructor(
    readonly client: Etcd3,
    options: EtcdStoreOptions,
    private readonly members: number,
  ) {
    this.prefix = options.prefix ?? DEFAULT_ETCD_PREFIX;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxTxnOps = options.maxTxnOps ?? DEFAULT_MAX_TXN_OPS;
  }

  /** Connects lazily: the first call reaches the cluster (see `ready()`). */
  static open(options: EtcdStoreOptions): EtcdStore {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) throw invalid('store.endpoints', 'must list at least one etcd client URL');
    if (options.prefix !== undefined && !PREFIX.test(options.prefix)) throw invalid('store.prefix', `${JSON.stringify(options.prefix)} must end with "/" (printable ASCII, at most 256 characters)`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const clientOptions: IOptions = {
      hosts: [...options.endpoints],
      dialTimeout: timeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // Retries are EtcdStore.call's: reads on any connection failure, writes only when they
      // certainly never left. A per-member circuit breaker steers calls away from a dead member.
      faultHandling: {
        global: noop,
        host: () => circuitBreaker(handleWhen(isConnectionError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(2) }),
        // Watches (the replicas' cache feeds) come back within a second of etcd's return.
        // (etcd3 types this as a backoff but uses it as the factory its own default is.)
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
      },
      ...(options.tls ? { credentials: { rootCertificate: options.tls.ca ?? Buffer.alloc(0), ...(options.tls.key ? { privateKey: options.tls.key } : {}), ...(options.tls.cert ? { certChain: options.tls.cert } : {}) } } : {}),
      ...(options.auth ? { auth: { username: options.auth.username, password: options.auth.password } } : {}),
    };
    return new EtcdStore(new Etcd3(clientOptions), options, options.endpoints.length);
  }

  private full(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8');
  }

  /**
   * Where coordination keys (the leader election) live: beside the data prefix, never under it,
   * so `erase('')`, `count('')` and migrations never touch them (`/polly/` → `/polly.election/`).
   */
  get coordinationPrefix(): string {
    return `${this.prefix.slice(0, -1)}.election/`;
  }

  private strip(key: Buffer): string {
    return key.toString('utf8').slice(this.prefix.length);
  }

  private toRecord<T>(kv: IKeyValue): StoreRecord<T> {
    return { key: this.strip(kv.key), value: JSON.parse(kv.value.toString('utf8')) as T, revision: Number(kv.mod_revision) };
  }

  async get<T = unknown>(key: string): Promise<StoreRecord<T> | undefined> {
    this.assertOpen();
    const k = checkKey(key);
    const res = await this.call(() => this.client.kv.range({ key: this.full(k) }));
    return res.kvs.length > 0 ? this.toRecord<T>(res.kvs[0]) : undefined;
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<(StoreRecord<T> | undefined)[]> {
    this.assertOpen();
    if (!Array.isArray(keys)) throw invalid('keys', 'must be an array');
    const checked = keys.map((k, i) => checkKey(k, `keys[${i}]`));
    const out: (StoreRecord<T> | undefined)[] = [];
    // One Txn of ranges reads a single snapshot; only more keys than maxTxnOps need several.
    for (let i = 0; i < checked.length; i += this.maxTxnOps) {
      const chunk = checked.slice(i, i + this.maxTxnOps);
      const res = await this.call(() => this.client.kv.txn({ success: chunk.map((k) => ({ request_range: { key: this.full(k) } })) }));
      for (const r of res.responses) {
        const kvs = r.response_range?.kvs ?? [];
        out.push(kvs.length > 0 ? this.toRecord<T>(kvs[0]) : undefined);
      }
    }
    return out;
  }

  async list<T = unknown>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    this.assertOpen();
    const { after, limit } = checkListOptions(options);
    const p = this.full(checkPrefix(prefix));
    let start = p;
    if (after !== undefined) {
      const a = this.full(after);
      if (Buffer.compare(a, p) >= 0) start = Buffer.concat([a, Buffer.from([0])]);
    }
    const end = bytePrefixEnd(p);
    if (Buffer.compare(start, end) >= 0) return { records: [] };
    const res = await this.call(() => this.client.kv.range({ key: start, range_end: end, limit: limit + 1 }));
    const kvs = res.kvs;
    const more = kvs.length > limit || res.more;
    const records = kvs.slice(0, limit).map((kv) => this.toRecord<T>(kv));
    return more && records.length > 0 ? { records, next: records[records.length - 1].key } : { records };
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    const p = this.full(checkPrefix(prefix));
    const res = await this.call(() => this.client.kv.range({ key: p, range_end: bytePrefixEnd(p), count_only: true }));
    return Number(res.count);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.assertOpen();
    const prepared = prepareTxn(request);
    const size = Math.max(prepared.compares.length, prepared.ops.length);
    if (size > this.maxTxnOps) {
      throw invalid('txn', `has ${size} operations; the etcd store allows at most ${this.maxTxnOps} (store.maxTxnOps, etcd --max-txn-ops)`);
    }
    const compareKeys = [...new Set(prepared.compares.map((c) => c.key))];
    const res = await this.call(() => this.client.kv.txn({
      compare: prepared.compares.map((c) => ({ key: this.full(c.key), target: 'Mod', result: 'Equal', mod_revision: c.revision })),
      success: prepared.ops.map((op) => op.type === 'put'
        ? { request_put: { key: this.full(op.key), value: Buffer.from(op.json, 'utf8') } }
        : { request_delete_range: { key: this.full(op.key) } }),
      // When a compare fails, read the compared keys in the same snapshot to name the stale ones.
      failure: compareKeys.map((k) => ({ request_range: { key: this.full(k), keys_only: true } })),
    }), true);
    const revision = Number(res.header.revision);
    if (res.succeeded) return { ok: true, revision };
    const now = new Map<string, number>();
    res.responses.forEach((r, i) => now.set(compareKeys[i], Number(r.response_range?.kvs[0]?.mod_revision ?? 0)));
    const failed = compareKeys.filter((k) => prepared.compares.some((c) => c.key === k && c.revision !== now.get(k)));
    return { ok: false, revision, failed };
  }

  async erase(prefix: string): Promise<number> {
    this.assertOpen();
    const p = this.full(checkPrefix(prefix));
    const res = await this.call(() => this.client.kv.deleteRange({ key: p, range_end: bytePrefixEnd(p) }), true);
    return Number(res.deleted);
  }

  reachable(): boolean {
    return this.lastReachable;
  }

  async ready(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.call(() => this.client.kv.range({ key: this.full(''), limit: 1, keys_only: true }));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * See Store.watch. The etcd watch resumes from its last revision after a reconnect; `onResync`
   * is called after every reconnect, and when etcd cancelled the watch (e.g. its revision was
   * compacted away) and it had to be set up again from now: events may have been missed.
   */
  async watch(prefix: string, onEvent: (event: StoreEvent) => void, onResync?: () => void): Promise<() => Promise<void>> {
    this.assertOpen();
    const p = this.full(checkPrefix(prefix));
    // Fails fast (UNAVAILABLE) when the cluster cannot be reached: the watch itself would wait.
    await this.call(() => this.client.kv.range({ key: p, limit: 1, keys_only: true }));
    let stopped = false;
    let current: Watcher | undefined;
    const deliver = (event: () => StoreEvent) => {
      try {
        onEvent(event());
      } catch {
        // a value that is not Polly's JSON, or a failing handler: never the watch's problem
      }
    };
    const attach = (w: Watcher) => {
      current = w;
      let disconnected = false;
      w.on('put', (kv) => deliver(() => ({ type: 'put', key: this.strip(kv.key), value: JSON.parse(kv.value.toString('utf8')) as unknown, revision: Number(kv.mod_revision) })));
      w.on('delete', (kv) => deliver(() => ({ type: 'delete', key: this.strip(kv.key), revision: Number(kv.mod_revision) })));
      w.on('disconnected', () => void (disconnected = true));
      w.on('connected', () => {
        if (!disconnected) return;
        disconnected = false;
        onResync?.();
      });
      w.on('error', () => {
        // Cancelled by etcd: set up a new watch from now, then resync.
        if (stopped || current !== w) return;
        const again = () => {
          if (stopped) return;
          this.client.watch().prefix(p).create().then((next) => {
            if (stopped) return void next.cancel();
            attach(next);
            onResync?.();
          }, () => setTimeout(again, 1000).unref());
        };
        setTimeout(again, 100).unref();
      });
    };
    const pending = this.client.watch().prefix(p).create();
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(etcdError(new Error('the watch was not established in time'))), this.timeoutMs);
      }),
    ]).catch((e: unknown) => {
      void pending.then((w) => w.cancel(), () => undefined);
      throw etcdError(e);
    }).finally(() => clearTimeout(timer));
    attach(first);
    const handle = { cancel: async () => { stopped = true; await current?.cancel(); } };
    this.watchers.add(handle);
    return async () => {
      this.watchers.delete(handle);
      await handle.cancel();
    };
  }

  /** Lets in-flight calls finish, then closes the connections. Later calls reject with UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    await Promise.allSettled([...this.watchers].map((w) => w.cancel()));
    this.client.close();
  }

  /**
   * Runs one request; on a connection failure tries the other members (reads always, writes
   * only when the failed attempt certainly never reached a member).
   */
  private async call<R>(fn: () => Promise<R>, write = false): Promise<R> {
    const p = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await fn();
          this.lastReachable = true;
          return result;
        } catch (e) {
          const again = attempt <= this.members && isConnectionError(e) && (!write || neverSent(e));
          if (again) continue;
          const error = etcdError(e);
          if (error.code === 'UNAVAILABLE' && error.retryable) this.lastReachable = false;
          throw error;
        }
      }
    })();
    this.inflight.add(p);
    try {
      return await p;
    } finally {
      this.inflight.delete(p);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new PollyError('UNAVAILABLE', 'store is closed');
  }
}
