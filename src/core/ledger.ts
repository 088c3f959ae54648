import { PollyError } from './errors.js';
import { keys } from './keys.js';
import type { PoolSpec, PoolUsage, ServiceSpec, ServiceUsage } from './model.js';
import type { Store, TxnCompare, TxnOp, TxnResult } from './ports/store.js';
import { PoolState, type UsageDelta } from './pool-state.js';
import { poolId } from './keys.js';

/** What one piece of work wants written, planned against the ledger's running view. */
export interface LedgerPlan<R> {
  readonly compares?: readonly TxnCompare[];
  readonly ops?: readonly TxnOp[];
  readonly pools?: ReadonlyArray<{ readonly pool: PoolState; readonly delta: UsageDelta }>;
  readonly service?: { readonly volumes: number; readonly bytes: number };
  /** Builds the caller's answer from the revision the write committed at. */
  readonly result: (revision: number) => R;
  /** See TxnRequest.durability; a batch is deferred only when every plan in it is. */
  readonly durability?: 'durable' | 'deferred';
}

export interface LedgerView {
  readonly spec: ServiceSpec;
  readonly pools: readonly PoolState[];
  readonly usage: ServiceUsage;
  readonly zoneVolumes: ReadonlyMap<string, number>;
  pool(id: string): PoolState | undefined;
}

/** Planners may throw a PollyError to turn down their own work only. */
export type Planner<R> = (view: LedgerView) => LedgerPlan<R>;

interface Work {
  readonly planner: Planner<unknown>;
  /** Answered at commit with the durability promise (submitStaged), or once durable. */
  readonly staged?: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const MAX_BATCH = 512;
const SETTLED = Promise.resolve();
const MAX_ATTEMPTS = 25;

/** Counts a batch's compares and ops (usage records included) against the store's limit. */
class TxnSize {
  private compares = 0;
  private ops = 0;
  private readonly usage = new Set<unknown>();

  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  private projected(plan: LedgerPlan<unknown>): { compares: number; ops: number; usage: Set<unknown> } {
    const usage = new Set(this.usage);
    for (const { pool } of plan.pools ?? []) usage.add(pool);
    if (plan.service) usage.add('service');
    return { compares: this.compares + (plan.compares?.length ?? 0), ops: this.ops + (plan.ops?.length ?? 0), usage };
  }

  fits(plan: LedgerPlan<unknown>): boolean {
    const p = this.projected(plan);
    return Math.max(p.compares, p.ops) + p.usage.size <= this.limit;
  }

  add(plan: LedgerPlan<unknown>): void {
    const p = this.projected(plan);
    this.compares = p.compares;
    this.ops = p.ops;
    for (const u of p.usage) this.usage.add(u);
  }
}

/** Thrown to a piece of work whose own compares failed (e.g. its name was taken meanwhile). */
export class StaleWriteError extends PollyError {
  constructor(readonly staleKeys: readonly string[]) {
    super('CONFLICT', `the catalog changed meanwhile (${staleKeys.join(', ')}); retry`, { stale: staleKeys }, { retryable: true });
  }
}

/**
 * The single writer of a service's capacity and quota bookkeeping in this process.
 *
 * Work that changes pool or service usage (reserve, commit, release) is queued, planned one
 * after another against the running usage — so placement sees every earlier reservation — and
 * written as one store transaction per batch, guarded by the usage records' revisions. Another
 * replica's write makes the guard fail; the ledger then re-reads and re-plans the batch. Two
 * creates can therefore never both take the last bytes of a pool, here or across replicas.
 */
export class ServiceLedger implements LedgerView {
  readonly pools: PoolState[];
  usage: ServiceUsage;
  private usageRevision = 0;
  readonly zoneVolumes = new Map<string, number>();
  private readonly byId = new Map<string, PoolState>();
  private queue: Work[] = [];
  private running = false;
  /** Set when a watch may have missed changes: the records are read again before the next batch. */
  private stale = false;
  /** Usage records other replicas wrote (from a store watch), applied between batches. */
  private readonly observed = new Map<string, { value: unknown; revision: number }>();

  constructor(readonly spec: ServiceSpec, private readonly store: Store) {
    this.pools = spec.pools.map((p) => new PoolState(poolId(spec.name, p.name), spec.name, p));
    for (const p of this.pools) this.byId.set(p.id, p);
    this.usage = { service: spec.name, volumes: 0, bytes: 0 };
  }

  pool(id: string): PoolState | undefined {
    return this.byId.get(id);
  }

  /**
   * Adds a pool at run time (a node's agent contributes it) and reads its usage record. A pool
   * of the same name is replaced only when it belongs to the same node.
   */
  async addPool(spec: PoolSpec): Promise<PoolState> {
    const id = poolId(this.spec.name, spec.name);
    const existing = this.byId.get(id);
    if (existing && existing.spec.node !== spec.node) {
      throw new PollyError('ALREADY_EXISTS', `service ${this.spec.name} already has a pool ${spec.name}${existing.spec.node ? ` (of node ${existing.spec.node})` : ''}`, { pool: spec.name });
    }
    const state = new PoolState(id, this.spec.name, spec);
    const rec = await this.store.get<PoolUsage>(keys.pool(id));
    state.setUsage(rec?.value, rec?.revision ?? 0);
    if (existing) {
      state.totalBytes = existing.totalBytes;
      state.backendFreeBytes = existing.backendFreeBytes;
      this.pools[this.pools.indexOf(existing)] = state;
    } else {
      this.pools.push(state);
    }
    this.byId.set(id, state);
    this.recountZones();
    return state;
  }

  /** (Re)reads the usage records from the store. */
  async load(): Promise<void> {
    const records = await this.store.getMany<never>([...this.pools.map((p) => keys.pool(p.id)), keys.serviceUsage(this.spec.name)]);
    this.pools.forEach((p, i) => {
      const r = records[i];
      p.setUsage(r?.value, r?.revision ?? 0);
    });
    const u = records[this.pools.length] as { value: ServiceUsage; revision: number } | undefined;
    this.usage = u?.value ?? { service: this.spec.name, volumes: 0, bytes: 0 };
    this.usageRevision = u?.revision ?? 0;
    this.recountZones();
  }

  /** True for the usage record keys this ledger keeps (its pools' and its service's). */
  owns(key: string): boolean {
    return key === keys.serviceUsage(this.spec.name) || this.pools.some((p) => keys.pool(p.id) === key);
  }

  /**
   * A usage record as another writer left it (`undefined`: deleted), seen by a store watch. It
   * replaces the cached one when newer — at once when idle, else before the next batch is
   * planned, never under a planned batch. Keeps placement current without polling; the
   * revision guards stay what makes writes safe.
   */
  observe(key: string, value: unknown, revision: number): void {
    const seen = this.observed.get(key);
    if (seen === undefined || revision > seen.revision) this.observed.set(key, { value, revision });
    if (!this.running) this.applyObserved();
  }

  /** Events may have been missed (a watch reconnected): re-read the usage records, between batches. */
  resync(): void {
    this.stale = true;
    this.reloadWhenIdle();
  }

  /**
   * Re-reads now if idle (else the next batch does), retrying every second while the store is
   * away. The re-read holds the ledger like a batch does: a batch planned meanwhile would have
   * its in-memory usage replaced under it and then write wrong totals.
   */
  private reloadWhenIdle(): void {
    if (this.running || !this.stale) return;
    this.running = true;
    void this.reloadIfStale()
      .catch(() => void setTimeout(() => this.reloadWhenIdle(), 1000).unref())
      .finally(() => {
        this.running = false;
        this.applyObserved();
        if (this.queue.length > 0) {
          this.running = true;
          setImmediate(() => void this.drain());
        }
      });
  }

  private async reloadIfStale(): Promise<void> {
    if (!this.stale) return;
    this.stale = false;
    try {
      await this.load();
    } catch (e) {
      this.stale = true; // the store is away again: try before the next batch
      throw e;
    }
  }

  private applyObserved(): void {
    if (this.observed.size === 0) return;
    for (const [key, { value, revision }] of this.observed) {
      // A deleted record no longer exists: later compares must expect revision 0.
      const at = value === undefined ? 0 : revision;
      if (key === keys.serviceUsage(this.spec.name)) {
        if (revision > this.usageRevision) {
          this.usage = (value as ServiceUsage | undefined) ?? { service: this.spec.name, volumes: 0, bytes: 0 };
          this.usageRevision = at;
        }
        continue;
      }
      const pool = this.pools.find((p) => keys.pool(p.id) === key);
      if (pool !== undefined && revision > pool.revision) pool.setUsage(value as never, at);
    }
    this.observed.clear();
    this.recountZones();
  }

  submit<R>(planner: Planner<R>): Promise<R> {
    return this.enqueue<R>(planner, false);
  }

  /**
   * As submit, but answered once the write committed, with `durable` settling when it is on
   * disk (at once on stores without Store.txnStaged). For work that may start its next step
   * while the disk syncs, and waits for `durable` before it answers its own caller.
   */
  submitStaged<R>(planner: Planner<R>): Promise<{ value: R; durable: Promise<void> }> {
    return this.enqueue<{ value: R; durable: Promise<void> }>(planner as Planner<unknown>, true);
  }

  private enqueue<T>(planner: Planner<unknown>, staged: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ planner, staged, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        // Last resort: drain runs detached, so an unexpected failure fails the batch's work
        // instead of the process (work already settled is not affected).
        await this.process(batch).catch((e: unknown) => {
          for (const w of batch) w.reject(e);
        });
      }
    } finally {
      this.running = false;
      this.applyObserved();
      if (this.queue.length > 0) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    }
  }

  private async process(batch: Work[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      await this.reloadIfStale().catch(() => undefined);
      this.applyObserved();
      if (attempt > MAX_ATTEMPTS) {
        const e = new PollyError('UNAVAILABLE', `service ${this.spec.name}: too much write contention, retry`, {}, { retryable: true });
        for (const w of pending) w.reject(e);
        return;
      }
      const planned: { work: Work; plan: LedgerPlan<unknown> }[] = [];
      const written = new Set<string>();
      const deferred: Work[] = [];
      const size = new TxnSize(this.store.maxTxnOps);
      for (const work of pending) {
        try {
          const plan = work.planner(this);
          const own = [...(plan.compares ?? []).map((c) => c.key), ...(plan.ops ?? []).map((o) => o.key)];
          if (own.some((k) => written.has(k)) || (planned.length > 0 && !size.fits(plan))) {
            // Touches a key an earlier item of this batch writes (e.g. the same new name), or
            // would make the transaction larger than the store takes: it goes into the next
            // batch (where it sees that write).
            deferred.push(work);
            continue;
          }
          size.add(plan);
          for (const k of own) written.add(k);
          this.applyPlan(plan, 1);
          planned.push({ work, plan });
        } catch (e) {
          work.reject(e);
        }
      }
      if (deferred.length > 0) this.queue.unshift(...deferred);
      if (planned.length === 0) return;

      const touched = new Set<PoolState>();
      let serviceTouched = false;
      const compares: TxnCompare[] = [];
      const ops: TxnOp[] = [];
      const owner = new Map<string, Work>();
      for (const { work, plan } of planned) {
        for (const c of plan.compares ?? []) {
          compares.push(c);
          owner.set(c.key, work);
        }
        ops.push(...(plan.ops ?? []));
        for (const { pool } of plan.pools ?? []) touched.add(pool);
        if (plan.service) serviceTouched = true;
      }
      for (const p of touched) {
        compares.push({ key: keys.pool(p.id), revision: p.revision });
        ops.push({ type: 'put', key: keys.pool(p.id), value: p.toRecord() });
      }
      if (serviceTouched) {
        compares.push({ key: keys.serviceUsage(this.spec.name), revision: this.usageRevision });
        ops.push({ type: 'put', key: keys.serviceUsage(this.spec.name), value: this.usage });
      }

      let res: TxnResult;
      let durable: Promise<void> | undefined;
      try {
        const deferred = planned.every(({ plan }) => plan.durability === 'deferred');
        const request = { compares, ops, ...(deferred ? { durability: 'deferred' as const } : {}) };
        // Where the store can say so, the next batch is planned as soon as this one committed;
        // its work is answered once it is durable.
        if (this.store.txnStaged !== undefined) ({ result: res, durable } = await this.store.txnStaged(request));
        else res = await this.store.txn(request);
      } catch (e) {
        for (const { plan } of planned.reverse()) this.applyPlan(plan, -1);
        for (const { work } of planned) work.reject(e);
        return;
      }
      if (res.ok) {
        for (const p of touched) p.revision = res.revision;
        if (serviceTouched) this.usageRevision = res.revision;
        for (const { work, plan } of planned) {
          const answer = plan.result(res.revision);
          if (work.staged) work.resolve({ value: answer, durable: durable ?? SETTLED });
          else if (durable === undefined) work.resolve(answer);
          else durable.then(() => work.resolve(answer), (e: unknown) => work.reject(e));
        }
        return;
      }

      for (const { plan } of [...planned].reverse()) this.applyPlan(plan, -1);
      const failed = res.failed ?? [];
      const stale = new Map<Work, string[]>();
      for (const k of failed) {
        const w = owner.get(k);
        if (w) stale.set(w, [...(stale.get(w) ?? []), k]);
      }
      if (failed.some((k) => !owner.has(k))) {
        try {
          await this.load();
        } catch (e) {
          // The store went away: the planned work fails (drain runs detached, so nothing may
          // escape it); the records are read again before the next batch.
          this.stale = true;
          for (const { work } of planned) work.reject(e);
          return;
        }
      }
      for (const [w, ks] of stale) w.reject(new StaleWriteError(ks));
      pending = planned.map((p) => p.work).filter((w) => !stale.has(w));
    }
  }

  private applyPlan(plan: LedgerPlan<unknown>, sign: 1 | -1): void {
    for (const { pool, delta } of plan.pools ?? []) {
      pool.apply(delta, sign);
      if (delta.volumes && pool.spec.zone !== undefined) {
        this.zoneVolumes.set(pool.spec.zone, (this.zoneVolumes.get(pool.spec.zone) ?? 0) + sign * delta.volumes);
      }
    }
    if (plan.service) {
      this.usage = {
        service: this.spec.name,
        volumes: this.usage.volumes + sign * plan.service.volumes,
        bytes: this.usage.bytes + sign * plan.service.bytes,
      };
    }
  }

  private recountZones(): void {
    this.zoneVolumes.clear();
    for (const p of this.pools) {
      if (p.spec.zone !== undefined) this.zoneVolumes.set(p.spec.zone, (this.zoneVolumes.get(p.spec.zone) ?? 0) + p.volumes);
    }
  }
}
