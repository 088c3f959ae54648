import Database from 'better-sqlite3';
import { PollyError, asPollyError } from '../../core/errors.js';
import type { TxnResult } from '../../core/ports/store.js';
import type { PreparedTxn } from '../validate.js';
import type { WriteJob } from './group-commit.js';
import { keyRange } from './key-range.js';

/** A write as plain data. */
export type WriteRequest =
  | { readonly kind: 'txn'; readonly txn: PreparedTxn }
  | { readonly kind: 'erase'; readonly prefix: string };

/** Turns write requests into group-commit jobs on one connection. */
export class WriteJobs {
  private readonly revisionOf;
  private readonly put;
  private readonly del;

  constructor(private readonly db: Database.Database) {
    this.revisionOf = db.prepare<[string]>('SELECT revision FROM kv WHERE key = ?').pluck();
    this.put = db.prepare(
      'INSERT INTO kv (key, value, revision) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision',
    );
    this.del = db.prepare('DELETE FROM kv WHERE key = ?');
  }

  jobFor(request: WriteRequest): WriteJob<TxnResult | number> {
    if (request.kind === 'txn') return { apply: (current) => this.applyTxn(request.txn, current), deferred: request.txn.deferred };
    const range = keyRange(request.prefix);
    const erase = this.db.prepare(`DELETE FROM kv WHERE ${range.where}`);
    return {
      apply: () => {
        const removed = erase.run(...range.params).changes;
        return { commit: removed > 0, result: removed };
      },
    };
  }

  private applyTxn(txn: PreparedTxn, current: number): { commit: boolean; result: TxnResult } {
    const failed = txn.compares.filter((c) => ((this.revisionOf.get(c.key) as number | undefined) ?? 0) !== c.revision).map((c) => c.key);
    if (failed.length > 0) return { commit: false, result: { ok: false, revision: current, failed: [...new Set(failed)] } };
    const revision = current + 1;
    for (const op of txn.ops) {
      if (op.type === 'put') this.put.run(op.key, op.json, revision);
      else this.del.run(op.key);
    }
    return { commit: true, result: { ok: true, revision } };
  }
}

export function storeError(e: unknown): PollyError {
  if (e instanceof Database.SqliteError) {
    return new PollyError('UNAVAILABLE', `sqlite: ${e.message}`, { sqliteCode: e.code }, { cause: e });
  }
  return asPollyError(e, 'INTERNAL');
}
