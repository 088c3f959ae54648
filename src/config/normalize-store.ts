import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { formatPath, type ConfigPath } from './config-path.js';
import type { NormalizeInput } from './normalize-config.js';
import { parseDuration } from './parse-duration.js';
import type { StoreConfig } from './polly-config.js';
import { ETCD_ENDPOINTS_ACCEPTED } from './schema.js';

const ETCD_ONLY = ['endpoints', 'prefix', 'tls', 'auth', 'timeout', 'leaseTtl', 'maxTxnOps'] as const;

/** `store:` as the runtime needs it: the SQLite file, or the etcd cluster and its options. */
export function normalizeStore(input: NormalizeInput, sqlitePath: string): StoreConfig {
  const { problems } = input;
  const s = input.doc.store ?? {};
  const at = (...key: (string | number)[]): ConfigPath => ['store', ...key];
  if (s.type !== 'etcd') {
    for (const key of ETCD_ONLY) {
      if (s[key] !== undefined) problems.add(at(key), `is an etcd setting but ${input.nameOf(at('type'))} is ${JSON.stringify(s.type ?? CONFIG_DEFAULTS.storeType)}`, 'store.type: etcd, or no etcd settings');
    }
    return { type: 'sqlite', path: sqlitePath };
  }
  if (s.path !== undefined) problems.add(at('path'), 'is a sqlite setting but store.type is "etcd"', 'store.endpoints for etcd');

  const tls = s.tls === undefined ? undefined : {
    ...(s.tls.ca !== undefined ? { ca: resolve(input.cwd, s.tls.ca) } : {}),
    ...(s.tls.cert !== undefined ? { cert: resolve(input.cwd, s.tls.cert) } : {}),
    ...(s.tls.key !== undefined ? { key: resolve(input.cwd, s.tls.key) } : {}),
  };
  if (tls !== undefined) {
    if ((tls.cert === undefined) !== (tls.key === undefined)) problems.add(at('tls'), 'has only one of cert and key', 'both cert and key (client certificate), or neither');
    for (const [key, file] of Object.entries(tls)) {
      if (!existsSync(file)) problems.add(at('tls', key), `file ${JSON.stringify(file)} not found`, 'a readable PEM file');
      else if (!statSync(file).isFile()) problems.add(at('tls', key), `${JSON.stringify(file)} is not a file`, 'a readable PEM file');
    }
  }

  const raw = s.endpoints === undefined ? [] : Array.isArray(s.endpoints) ? s.endpoints : s.endpoints.split(',');
  const endpoints: string[] = [];
  for (const [i, e] of raw.map((x) => x.trim()).entries()) {
    const where = Array.isArray(s.endpoints) ? at('endpoints', i) : at('endpoints');
    const url = endpointUrl(e, tls !== undefined);
    if (url === undefined) problems.add(where, `${JSON.stringify(e)} is not an etcd client URL`, ETCD_ENDPOINTS_ACCEPTED);
    else if (tls !== undefined && url.startsWith('http:')) problems.add(where, `${JSON.stringify(e)} is plain HTTP but store.tls is set`, 'https:// endpoints with store.tls');
    else if (tls === undefined && url.startsWith('https:')) problems.add(where, `${JSON.stringify(e)} asks for TLS but store.tls is not set`, 'store.tls.ca (and cert and key for client certificates) with https:// endpoints');
    else endpoints.push(url);
  }
  if (raw.length === 0) problems.add(at('endpoints'), 'is not set (store.type is etcd)', ETCD_ENDPOINTS_ACCEPTED);

  const ms = (key: 'timeout' | 'leaseTtl', fallback: string, minMs: number): number => {
    const value = s[key] ?? fallback;
    const n = problems.attempt(at(key), () => parseDuration(formatPath(at(key)), value));
    if (n !== undefined && n < minMs) problems.add(at(key), `${JSON.stringify(value)} is too short`, `a duration of at least ${minMs / 1000}s`);
    return n ?? 0;
  };
  const timeoutMs = ms('timeout', CONFIG_DEFAULTS.etcdTimeout, 100);
  const leaseTtlMs = ms('leaseTtl', CONFIG_DEFAULTS.etcdLeaseTtl, 1000);
  if (leaseTtlMs % 1000 !== 0) problems.add(at('leaseTtl'), `${JSON.stringify(s.leaseTtl)} is not whole seconds (etcd leases count seconds)`, 'a whole number of seconds such as 2s or 10s');

  return {
    type: 'etcd',
    endpoints,
    prefix: s.prefix ?? CONFIG_DEFAULTS.etcdPrefix,
    ...(tls !== undefined ? { tls } : {}),
    ...(s.auth !== undefined ? { auth: { username: s.auth.username, password: s.auth.password } } : {}),
    timeoutMs,
    leaseTtlMs,
    maxTxnOps: s.maxTxnOps ?? CONFIG_DEFAULTS.etcdMaxTxnOps,
  };
}

/** `http(s)://host:port` from a URL or a bare `host:port` (https when TLS is configured). */
function endpointUrl(text: string, tls: boolean): string | undefined {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `${tls ? 'https' : 'http'}://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.port === '' || url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') return undefined;
  return `${url.protocol}//${url.host}`;
}
