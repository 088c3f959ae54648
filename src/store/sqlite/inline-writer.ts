import type Database from 'better-sqlite3';
import { PollyError } from '../../core/errors.js';
import type { StagedTxn, TxnResult } from '../../core/ports/store.js';
import type { PreparedTxn } from '../validate.js';
import { GroupCommit } from './group-commit.js';
import type { WalSync } from './wal-sync.js';
import { storeError, WriteJobs, type WriteRequest } from './write-request.js';

/**
 * Writes on the store's own connection, in group commits (see GroupCommit); with a WalSync,
 * durable writes settle once the WAL is synced. A commit costs the event loop only SQLite's
 * work in the page cache: the fsync runs on the thread pool (docs/decisions.md D94).
 *
 * A failed WAL sync is final: the kernel may have dropped the pages it could not write, so a
 * later sync that succeeds proves nothing about them. Every later write is refused and the
 * store reports not ready; the next start recovers from what the WAL holds on disk.
 */
export class InlineWriter {
  private readonly jobs: WriteJobs;
  private readonly group: GroupCommit;
  private broken: PollyError | undefined;

  constructor(db: Database.Database, private readonly wal?: WalSync) {
    this.jobs = new WriteJobs(db);
    this.group = new GroupCommit(db, storeError, wal && (() => this.syncWal(wal)));
  }

  /** False once writes can no longer succeed (a WAL sync failed). */
  get healthy(): boolean {
    return this.broken === undefined;
  }

  submit(request: { kind: 'txn'; txn: PreparedTxn }): Promise<TxnResult>;
  submit(request: { kind: 'erase'; prefix: string }): Promise<number>;
  submit(request: WriteRequest): Promise<TxnResult | number> {
    if (this.broken) return Promise.reject(this.broken);
    return this.group.submit(this.jobs.jobFor(request));
  }

  /** A transaction answered at COMMIT, with the promise of its WAL sync (Store.txnStaged). */
  submitStaged(txn: PreparedTxn): Promise<StagedTxn> {
    if (this.broken) return Promise.reject(this.broken);
    return this.group.submitStaged(this.jobs.jobFor({ kind: 'txn', txn })) as Promise<StagedTxn>;
  }

  async close(): Promise<void> {
    this.group.flush();
    await this.wal?.close();
  }

  private async syncWal(wal: WalSync): Promise<void> {
    try {
      await wal.sync();
    } catch (e) {
      this.broken ??= new PollyError('UNAVAILABLE', `store: syncing the write-ahead log failed (${(e as Error).message}); restart the server`, {}, { cause: e });
      throw this.broken;
    }
  }
}
