import { readFileSync } from 'node:fs';
import type { StoreConfig } from '../config/polly-config.js';
import type { Store } from '../core/ports/store.js';
import { EtcdStore } from './etcd/etcd-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/** The store implementations by `store.type`: the one registry of stores. */
export function openStore(config: StoreConfig): Store {
  switch (config.type) {
    case 'sqlite':
      return SqliteStore.open(config.path);
    case 'etcd':
      return openEtcdStore(config);
  }
}

export function openEtcdStore(config: Extract<StoreConfig, { type: 'etcd' }>): EtcdStore {
  const tls = config.tls;
  return EtcdStore.open({
    endpoints: config.endpoints,
    prefix: config.prefix,
    timeoutMs: config.timeoutMs,
    maxTxnOps: config.maxTxnOps,
    ...(config.auth ? { auth: config.auth } : {}),
    ...(tls ? { tls: { ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}), ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}), ...(tls.key ? { key: readFileSync(tls.key) } : {}) } } : {}),
  });
}
