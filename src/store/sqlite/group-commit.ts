import type { Database } from 'better-sqlite3';

/** One queued write. */
export interface WriteJob<R> {
  /**
   * Runs inside its own savepoint, seeing every earlier write of the batch. `current` is the
   * store revision so far; a write that keeps its changes (`commit: true`) must stamp them with
   * `current + 1`. `commit: false` rolls the savepoint back.
   */
  apply(current: number): { readonly commit: boolean; readonly result: R };
  /** May be lost to a power loss until a later durable commit (see TxnRequest.durability). */
  readonly deferred?: boolean;
}

interface Pending {
  readonly job: WriteJob<unknown>;
  /** Answer at COMMIT with the batch's durability promise (submitStaged), or after it. */
  readonly staged: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

const SETTLED = Promise.resolve();

/**
 * Group commit: writes submitted in the same tick run in ONE `BEGIN IMMEDIATE … COMMIT`. Each
 * write gets its own savepoint and revision. If the transaction as a whole fails, every write of
 * the batch is rejected.
 *
 * The connection commits with synchronous=NORMAL: in WAL mode the frames are written (a process
 * crash keeps them) but not synced. `durable`, when given, makes everything committed so far
 * survive a power loss (WalSync); a batch's durable writes settle only after it returned, its
 * deferred ones (see TxnRequest.durability) right after COMMIT. Without it (an in-memory store)
 * every write settles after COMMIT.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly sql;

  constructor(
    private readonly db: Database,
    private readonly toError: (e: unknown) => Error,
    private readonly durable?: () => Promise<void>,
  ) {
    db.pragma('synchronous = NORMAL');
    this.sql = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT write'),
      release: db.prepare('RELEASE write'),
      rollbackTo: db.prepare('ROLLBACK TO write'),
      readRevision: db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck(),
      writeRevision: db.prepare("UPDATE meta SET value = ? WHERE name = 'revision'"),
    };
  }

  submit<R>(job: WriteJob<R>): Promise<R> {
    return this.enqueue<R>(job, false);
  }

  /** Answers at COMMIT; `durable` settles when submit would have (see Store.txnStaged). */
  submitStaged<R>(job: WriteJob<R>): Promise<{ result: R; durable: Promise<void> }> {
    return this.enqueue<{ result: R; durable: Promise<void> }>(job as WriteJob<unknown>, true);
  }

  private enqueue<T>(job: WriteJob<unknown>, staged: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ job, staged, resolve: resolve as (value: unknown) => void, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits everything queued so far, now. */
  flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;

    const outcomes: { p: Pending; result: unknown; durable: boolean }[] = [];
    const refused: (() => void)[] = [];
    try {
      this.sql.begin.run();
      const start = this.sql.readRevision.get() as number;
      let revision = start;
      for (const p of batch) {
        this.sql.savepoint.run();
        try {
          const { commit, result } = p.job.apply(revision);
          if (commit) revision++;
          else this.sql.rollbackTo.run();
          this.sql.release.run();
          outcomes.push({ p, result, durable: this.durable !== undefined && p.job.deferred !== true });
        } catch (e) {
          // SQLite may have abandoned the whole transaction (e.g. disk full): fail the batch.
          if (!this.db.inTransaction) throw e;
          this.sql.rollbackTo.run();
          this.sql.release.run();
          refused.push(() => p.reject(this.toError(e)));
        }
      }
      if (revision !== start) this.sql.writeRevision.run(revision);
      this.sql.commit.run();
    } catch (e) {
      this.abort();
      const error = this.toError(e);
      for (const p of batch) p.reject(error);
      return;
    }
    for (const r of refused) r();
    // One sync for the batch, started right after its COMMIT, when any of its writes is durable.
    let synced: Promise<void> | undefined;
    if (outcomes.some((o) => o.durable)) {
      synced = this.durable!();
      synced.catch(() => undefined); // each waiting write gets the failure itself
    }
    for (const { p, result, durable } of outcomes) {
      const ready = durable ? synced! : SETTLED;
      if (p.staged) p.resolve({ result, durable: ready });
      else if (!durable) p.resolve(result);
      else ready.then(() => p.resolve(result), p.reject);
    }
  }

  private abort(): void {
    try {
      if (this.db.inTransaction) this.sql.rollback.run();
    } catch {
      // The connection is unusable; the caller's error already says why.
    }
  }
}
