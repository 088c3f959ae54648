import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_DEFAULTS } from '../config/config-defaults.js';
import type { StoreConfig } from '../config/polly-config.js';
import { invalid } from '../core/errors.js';
import type { Store } from '../core/ports/store.js';
import { migrateStore, type MigrateReport } from './migrate-store.js';
import { openStore } from './open-store.js';

/** What `polly store migrate` asks for (see docs/cli.md). */
export interface MigrateRequest {
  /** `sqlite:PATH` or `etcd:URL[,URL…]`. */
  readonly from: string;
  readonly to: string;
  /** etcd options, for whichever side is etcd. */
  readonly prefix?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly username?: string;
  readonly password?: string;
}

const SPEC_ACCEPTED = 'sqlite:PATH or etcd:URL[,URL…] (e.g. etcd:http://10.0.0.1:2379,http://10.0.0.2:2379)';

/** Turns `sqlite:PATH` / `etcd:URLS` into a store configuration; `field` names the option. */
export function parseStoreSpec(field: string, spec: string, request: MigrateRequest, mustExist: boolean): StoreConfig {
  const at = spec.indexOf(':');
  const type = at < 0 ? '' : spec.slice(0, at);
  const rest = at < 0 ? '' : spec.slice(at + 1);
  if (rest === '' || rest.includes('\0')) throw invalid(field, `${JSON.stringify(spec)} is not a store; accepted: ${SPEC_ACCEPTED}`);
  if (type === 'sqlite') {
    const path = resolve(rest);
    if (mustExist && !existsSync(path)) throw invalid(field, `${JSON.stringify(path)} does not exist`);
    return { type: 'sqlite', path };
  }
  if (type !== 'etcd') throw invalid(field, `${JSON.stringify(type)} is not a store type; accepted: ${SPEC_ACCEPTED}`);
  const tls = request.ca !== undefined || request.cert !== undefined || request.key !== undefined;
  const endpoints = rest.split(',').map((e) => e.trim());
  for (const e of endpoints) {
    if (!/^https?:\/\/[^/\s]+:\d+\/?$/.test(e)) throw invalid(field, `${JSON.stringify(e)} is not an etcd client URL; accepted: ${SPEC_ACCEPTED}`);
    if (tls !== e.startsWith('https:')) throw invalid(field, `${JSON.stringify(e)}: use https:// endpoints together with --ca/--cert/--key, http:// without`);
  }
  if ((request.username === undefined) !== (request.password === undefined)) throw invalid('--user', 'needs the password too (POLLY_STORE_PASSWORD)');
  return {
    type: 'etcd',
    endpoints: endpoints.map((e) => e.replace(/\/$/, '')),
    prefix: request.prefix ?? CONFIG_DEFAULTS.etcdPrefix,
    ...(tls ? { tls: { ...(request.ca ? { ca: resolve(request.ca) } : {}), ...(request.cert ? { cert: resolve(request.cert) } : {}), ...(request.key ? { key: resolve(request.key) } : {}) } } : {}),
    ...(request.username !== undefined && request.password !== undefined ? { auth: { username: request.username, password: request.password } } : {}),
    timeoutMs: 10_000,
    leaseTtlMs: 2000,
    maxTxnOps: CONFIG_DEFAULTS.etcdMaxTxnOps,
  };
}

/** `polly store migrate`: opens both stores, copies and verifies, closes both. */
export async function runMigration(request: MigrateRequest, onProgress?: (copied: number) => void): Promise<MigrateReport> {
  const fromConfig = parseStoreSpec('--from', request.from, request, true);
  const toConfig = parseStoreSpec('--to', request.to, request, false);
  if (fromConfig.type === toConfig.type && JSON.stringify(fromConfig) === JSON.stringify(toConfig)) throw invalid('--to', 'is the same store as --from');
  const opened: Store[] = [];
  try {
    const from = openStore(fromConfig);
    opened.push(from);
    const to = openStore(toConfig);
    opened.push(to);
    return await migrateStore(from, to, onProgress);
  } finally {
    for (const s of opened) await s.close().catch(() => undefined);
  }
}
