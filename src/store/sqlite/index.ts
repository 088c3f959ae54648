export { SqliteStore, type SqliteStoreOptions, type SqliteDiagnostics } from './sqlite-store.js';
export { MIGRATIONS, LATEST_SCHEMA_VERSION, type Migration } from './migrations.js';
