import Database from 'better-sqlite3';
import { PollyError, invalid } from '../../core/errors.js';
import type { ListOptions, ListPage, StagedTxn, Store, StoreRecord, TxnRequest, TxnResult } from '../../core/ports/store.js';
import { checkKey, checkListOptions, checkPrefix, prepareTxn } from '../validate.js';
import { InlineWriter } from './inline-writer.js';
import { keyRange } from './key-range.js';
import { migrate } from './migrations.js';
import { storeError } from './write-request.js';
import { WalSync } from './wal-sync.js';

export interface SqliteStoreOptions {
  /** How long a write waits for a lock held by another process, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
}

/** Connection settings actually in force, for status output and tests. */
export interface SqliteDiagnostics {
  readonly journalMode: string;
  /** SQLite's own setting: 1 = NORMAL (durable writes are made durable by a WAL sync, see D94). */
  readonly synchronous: number;
  /** How an acknowledged durable write reached the disk: 'wal-sync', or 'none' in memory. */
  readonly durability: 'wal-sync' | 'none';
  readonly busyTimeoutMs: number;
  readonly schemaVersion: number;
  readonly revision: number;
}

type Row = [key: string, value: string, revision: number];

/**
 * The default Store: one SQLite file in WAL mode. Writes go through group commit (see
 * GroupCommit, InlineWriter) and a durable write is acknowledged only once the WAL holding it
 * is synced (WalSync), so it survives power loss. Reads run on the same connection and see every
 * committed write, including one whose sync is still under way (docs/decisions.md D94).
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private closed = false;
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();
  private readonly readMany: (keys: readonly string[]) => (Row | undefined)[];

  /** Opens (creating if needed) and migrates the store file; `:memory:` works for tests. */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && path !== ':memory:') {
        throw new PollyError('FAILED_PRECONDITION', `store ${path}: cannot enable WAL (journal mode is ${String(mode)})`, { path });
      }
      db.pragma('synchronous = FULL'); // migrations commit durably before the first write
      migrate(db, path);
      const inMemory = path === ':memory:';
      return new SqliteStore(db, new InlineWriter(db, inMemory ? undefined : new WalSync(`${path}-wal`)), inMemory ? 'none' : 'wal-sync');
    } catch (e) {
      db?.close();
      if (e instanceof PollyError) throw e;
      throw new PollyError('UNAVAILABLE', `cannot open store ${path}: ${e instanceof Error ? e.message : String(e)}`, { path }, { cause: e });
    }
  }

  private constructor(
    private readonly db: Database.Database,
    private readonly writes: InlineWriter,
    private readonly durability: SqliteDiagnostics['durability'],
  ) {
    const get = this.stmt('SELECT key, value, revision FROM kv WHERE key = ?', 'raw');
    this.readMany = db.transaction((keys: readonly string[]) => keys.map((k) => get.get(k) as Row | undefined));
  }

  async get<T = unknown>(key: string): Promise<StoreRecord<T> | undefined> {
    this.assertOpen();
    const k = checkKey(key);
    const row = this.read(() => this.stmt('SELECT key, value, revision FROM kv WHERE key = ?', 'raw').get(k) as Row | undefined);
    return row && toRecord<T>(row);
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<(StoreRecord<T> | undefined)[]> {
    this.assertOpen();
    if (!Array.isArray(keys)) throw invalid('keys', 'must be an array');
    const checked = keys.map((k, i) => checkKey(k, `keys[${i}]`));
    // One read transaction, so the records come from a single snapshot.
    return this.read(() => this.readMany(checked)).map((row) => row && toRecord<T>(row));
  }

  async list<T = unknown>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    this.assertOpen();
    const { after, limit } = checkListOptions(options);
    const range = keyRange(checkPrefix(prefix), after);
    const sql = `SELECT key, value, revision FROM kv WHERE ${range.where} ORDER BY key LIMIT ?`;
    // One extra row tells whether another page follows.
    const rows = this.read(() => this.stmt(sql, 'raw').all(...range.params, limit + 1) as Row[]);
    const more = rows.length > limit;
    if (more) rows.pop();
    const records = rows.map((row) => toRecord<T>(row));
    return more ? { records, next: records[records.length - 1].key } : { records };
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    const range = keyRange(checkPrefix(prefix));
    return this.read(() => this.stmt(`SELECT count(*) FROM kv WHERE ${range.where}`, 'pluck').get(...range.params) as number);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.assertOpen();
    return this.writes.submit({ kind: 'txn', txn: prepareTxn(request) });
  }

  async txnStaged(request: TxnRequest): Promise<StagedTxn> {
    this.assertOpen();
    return this.writes.submitStaged(prepareTxn(request));
  }

  async erase(prefix: string): Promise<number> {
    this.assertOpen();
    return this.writes.submit({ kind: 'erase', prefix: checkPrefix(prefix) });
  }

  async ready(): Promise<boolean> {
    if (this.closed || !this.writes.healthy) return false;
    try {
      this.stmt('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  /** Commits pending writes, then closes the file. Later calls reject with UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.writes.close();
    } finally {
      this.db.close();
    }
  }

  diagnostics(): SqliteDiagnostics {
    this.assertOpen();
    const pragma = (name: string) => this.db.pragma(name, { simple: true });
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: Number(pragma('synchronous')),
      durability: this.durability,
      busyTimeoutMs: Number(pragma('busy_timeout')),
      schemaVersion: Number(pragma('user_version')),
      revision: this.stmt("SELECT value FROM meta WHERE name = 'revision'", 'pluck').get() as number,
    };
  }

  /**
   * Prepared statements, cached by text and result shape (only a handful exist): 'raw' yields
   * arrays, 'pluck' the first column, 'rows' objects.
   */
  private stmt(sql: string, shape: 'rows' | 'raw' | 'pluck' = 'rows'): Database.Statement<unknown[]> {
    const id = `${shape}:${sql}`;
    let s = this.statements.get(id);
    if (s === undefined) {
      s = this.db.prepare<unknown[]>(sql);
      if (shape === 'raw') s.raw();
      if (shape === 'pluck') s.pluck();
      this.statements.set(id, s);
    }
    return s;
  }

  private read<R>(fn: () => R): R {
    try {
      return fn();
    } catch (e) {
      throw storeError(e);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new PollyError('UNAVAILABLE', 'store is closed');
  }
}

function toRecord<T>([key, value, revision]: Row): StoreRecord<T> {
  return { key, value: JSON.parse(value) as T, revision };
}

