import type Database from 'better-sqlite3';
import type { TxnResult } from '../../core/ports/store.js';
import type { PreparedTxn } from '../validate.js';
import { GroupCommit } from './group-commit.js';
import { storeError, WriteJobs, type WriteRequest, type Writer } from './write-request.js';

/** Writes on the caller's own connection (an in-memory store cannot be shared with a thread). */
export class InlineWriter implements Writer {
  readonly healthy = true;
  private readonly jobs: WriteJobs;
  private readonly group: GroupCommit;

  constructor(db: Database.Database) {
    this.jobs = new WriteJobs(db);
    this.group = new GroupCommit(db, storeError);
  }

  submit(request: { kind: 'txn'; txn: PreparedTxn }): Promise<TxnResult>;
  submit(request: { kind: 'erase'; prefix: string }): Promise<number>;
  submit(request: WriteRequest): Promise<TxnResult | number> {
    return this.group.submit(this.jobs.jobFor(request));
  }

  async close(): Promise<void> {
    this.group.flush();
  }
}
