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
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted in the same tick run in ONE `BEGIN IMMEDIATE … COMMIT`, so they
 * share one fsync. Each write gets its own savepoint and revision; promises settle only after
 * COMMIT returned. If the transaction as a whole fails, every write of the batch is rejected.
 *
 * A batch of deferred writes only commits with synchronous=NORMAL: in WAL mode the frames are
 * written (a process crash keeps them) but not synced; the next batch with a durable write
 * commits with FULL, whose WAL sync covers every earlier frame too.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly sql;
  private synchronous: 'FULL' | 'NORMAL' = 'FULL';

  constructor(
    private readonly db: Database,
    private readonly toError: (e: unknown) => Error,
  ) {
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
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ job, resolve: resolve as (value: unknown) => void, reject });
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

    const settle: (() => void)[] = [];
    try {
      this.setSynchronous(batch.every((p) => p.job.deferred === true) ? 'NORMAL' : 'FULL');
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
          settle.push(() => p.resolve(result));
        } catch (e) {
          // SQLite may have abandoned the whole transaction (e.g. disk full): fail the batch.
          if (!this.db.inTransaction) throw e;
          this.sql.rollbackTo.run();
          this.sql.release.run();
          settle.push(() => p.reject(this.toError(e)));
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
    for (const s of settle) s();
  }

  /** Durability of the next commit; SQLite reads the setting when it commits. */
  private setSynchronous(mode: 'FULL' | 'NORMAL'): void {
    if (mode === this.synchronous) return;
    this.db.pragma(`synchronous = ${mode}`);
    this.synchronous = mode;
  }

  private abort(): void {
    try {
      if (this.db.inTransaction) this.sql.rollback.run();
    } catch {
      // The connection is unusable; the caller's error already says why.
    }
  }
}
