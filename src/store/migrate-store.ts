import { createHash } from 'node:crypto';
import { PollyError } from '../core/errors.js';
import type { Store, StoreRecord, TxnOp } from '../core/ports/store.js';

export interface MigrateReport {
  /** Records read from the source. */
  readonly source: { readonly kind: string; readonly records: number; readonly checksum: string };
  /** Records found in the target afterwards (under its prefix). */
  readonly target: { readonly kind: string; readonly records: number; readonly checksum: string };
  readonly copied: number;
  readonly verified: boolean;
}

const PAGE = 1000;

/**
 * Copies every record of `from` into `to`, which must be empty: each batch is one transaction of
 * create-only puts (compare revision 0), so nothing already in the target can be overwritten.
 * Then both sides are read back and compared by count and by a SHA-256 over the sorted keys and
 * values (revisions are each store's own and are not compared). The source must not change
 * meanwhile: stop the server that uses it first.
 */
export async function migrateStore(from: Store, to: Store, onProgress?: (copied: number) => void): Promise<MigrateReport> {
  const existing = await to.count('');
  if (existing > 0) {
    throw new PollyError('FAILED_PRECONDITION', `the target ${to.kind} store already holds ${existing} records: migrate into an empty store (or key prefix), or erase it first`, { records: existing });
  }
  const batch = Math.max(1, Math.min(to.maxTxnOps ?? PAGE, PAGE));
  let copied = 0;
  for await (const page of pages(from, batch)) {
    const ops: TxnOp[] = page.map((r) => ({ type: 'put', key: r.key, value: r.value }));
    const res = await to.txn({ compares: page.map((r) => ({ key: r.key, revision: 0 })), ops });
    if (!res.ok) {
      throw new PollyError('CONFLICT', `the target store changed during the migration (${(res.failed ?? []).slice(0, 5).join(', ')} appeared): is a server using it?`, { failed: res.failed ?? [] });
    }
    copied += page.length;
    onProgress?.(copied);
  }
  const source = await summary(from);
  const target = await summary(to);
  const verified = source.records === target.records && source.checksum === target.checksum && source.records === copied;
  if (!verified) {
    throw new PollyError('INTERNAL', `verification failed: source ${source.records} records (sha256 ${source.checksum}), target ${target.records} records (sha256 ${target.checksum}), ${copied} copied; the source changed meanwhile, or the target was written by someone else`, { source, target, copied });
  }
  return { source: { kind: from.kind, ...source }, target: { kind: to.kind, ...target }, copied, verified };
}

async function* pages(store: Store, size: number): AsyncGenerator<StoreRecord[]> {
  let after: string | undefined;
  do {
    const page = await store.list('', { limit: size, ...(after !== undefined ? { after } : {}) });
    if (page.records.length > 0) yield page.records;
    after = page.next;
  } while (after !== undefined);
}

/** Count and SHA-256 over `key \0 JSON(value) \n` in key order. */
export async function summary(store: Store): Promise<{ records: number; checksum: string }> {
  const hash = createHash('sha256');
  let records = 0;
  for await (const page of pages(store, PAGE)) {
    for (const r of page) {
      hash.update(r.key).update('\0').update(JSON.stringify(r.value)).update('\n');
      records++;
    }
  }
  return { records, checksum: hash.digest('hex') };
}
