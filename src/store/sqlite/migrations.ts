import type { Database } from 'better-sqlite3';
import { PollyError } from '../../core/errors.js';

export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** Ordered schema changes; never edit a released entry, append a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE kv (
        key      TEXT    NOT NULL PRIMARY KEY,
        value    TEXT    NOT NULL,
        revision INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE meta (
        name  TEXT    NOT NULL PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO meta (name, value) VALUES ('revision', 0);
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Brings the schema to the latest version in one IMMEDIATE transaction (so two processes opening
 * the same file cannot both migrate), tracked with PRAGMA user_version. Refuses a file written by
 * a newer Polly. Returns the version found and the version now in place.
 */
export function migrate(db: Database, path: string): { from: number; to: number } {
  const run = db.transaction(() => {
    const from = db.pragma('user_version', { simple: true }) as number;
    if (from > LATEST_SCHEMA_VERSION) {
      throw new PollyError(
        'FAILED_PRECONDITION',
        `store ${path} has schema version ${from}, newer than the ${LATEST_SCHEMA_VERSION} this Polly knows; upgrade Polly or restore an older backup`,
        { path, schemaVersion: from, supportedVersion: LATEST_SCHEMA_VERSION },
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    return { from, to: LATEST_SCHEMA_VERSION };
  });
  return run.immediate();
}
