import type { ConfigPath, PathAliases } from './config-path.js';

export interface ConfigFlags {
  readonly host?: string;
  readonly dataDir?: string;
  readonly logLevel?: string;
}

/** The environment variables that override the file (empty values count as unset). */
export const ENV_OVERRIDES: readonly { readonly name: string; readonly path: ConfigPath }[] = [
  { name: 'POLLY_HOST', path: ['server', 'host'] },
  { name: 'POLLY_DATA_DIR', path: ['server', 'dataDir'] },
  { name: 'POLLY_LOG_LEVEL', path: ['log', 'level'] },
  { name: 'POLLY_STORE_TYPE', path: ['store', 'type'] },
  { name: 'POLLY_STORE_PATH', path: ['store', 'path'] },
  { name: 'POLLY_STORE_ENDPOINTS', path: ['store', 'endpoints'] },
  { name: 'POLLY_STORE_PREFIX', path: ['store', 'prefix'] },
  { name: 'POLLY_TLS_CERT', path: ['server', 'tls', 'cert'] },
  { name: 'POLLY_TLS_KEY', path: ['server', 'tls', 'key'] },
  { name: 'POLLY_LIBSTORAGE_HOST', path: ['libstorage', 'host'] },
  { name: 'POLLY_DOCKER_SOCKET', path: ['docker', 'socket'] },
  { name: 'POLLY_CSI_ENDPOINT', path: ['csi', 'endpoint'] },
];

/** Adds an admin token named `env-admin`. */
export const ADMIN_TOKEN_ENV = 'POLLY_ADMIN_TOKEN';
export const ENV_ADMIN_TOKEN_NAME = 'env-admin';

/** Flags, by LoadOptions.flags key, with the name errors use for them. */
export const FLAG_OVERRIDES: readonly { readonly key: keyof ConfigFlags; readonly flag: string; readonly path: ConfigPath }[] = [
  { key: 'host', flag: '--host', path: ['server', 'host'] },
  { key: 'dataDir', flag: '--data-dir', path: ['server', 'dataDir'] },
  { key: 'logLevel', flag: '--logLevel', path: ['log', 'level'] },
];

/**
 * Writes env (`POLLY_*`) then flag values over the Polly-layout document, in place, and records
 * where each came from so that an error names the variable or flag rather than the key.
 */
export function applyOverrides(doc: Record<string, unknown>, env: NodeJS.ProcessEnv, flags: ConfigFlags, aliases: PathAliases): void {
  for (const { name, path } of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '' && setIn(doc, path, value)) aliases.set(path, [name], true);
  }
  const token = env[ADMIN_TOKEN_ENV];
  if (token !== undefined && token !== '') {
    const auth = ensureMap(doc, 'auth');
    if (auth !== undefined) {
      if (auth['tokens'] === undefined || auth['tokens'] === null) auth['tokens'] = [];
      const tokens = auth['tokens'];
      if (Array.isArray(tokens)) {
        tokens.push({ name: ENV_ADMIN_TOKEN_NAME, token, role: 'admin' });
        aliases.set(['auth', 'tokens', tokens.length - 1], [ADMIN_TOKEN_ENV], true);
      }
    }
  }
  for (const { key, flag, path } of FLAG_OVERRIDES) {
    const value = flags[key];
    if (value !== undefined && value !== '' && setIn(doc, path, value)) aliases.set(path, [flag], true);
  }
}

function ensureMap(obj: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    const created: Record<string, unknown> = {};
    obj[key] = created;
    return created;
  }
  return typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Sets a value, creating missing mappings; false when something in the way is not a mapping. */
function setIn(doc: Record<string, unknown>, path: ConfigPath, value: unknown): boolean {
  let node = doc;
  for (const seg of path.slice(0, -1)) {
    const next = ensureMap(node, String(seg));
    if (next === undefined) return false;
    node = next;
  }
  node[String(path[path.length - 1])] = value;
  return true;
}
