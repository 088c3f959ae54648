import type { ConfigPath, PathAliases } from './config-path.js';
import { LOG_LEVELS, type LogLevel } from './polly-config.js';
import type { ProblemList } from './problem-list.js';
import { OWN_TOP_KEYS, STORE_TYPE_ACCEPTED } from './schema.js';

/**
 * The 2016 layout: `polly:` (host, store) plus libStorage's `libstorage:` section whose
 * `server.services.<name>` define the services, and driver-named sections (e.g. `virtualbox:`)
 * holding driver settings. It is translated into Polly's own layout; every translated value keeps
 * its 2016 key in `aliases` so that later errors name the key the file really has.
 */

type Obj = Record<string, unknown>;

export const LEGACY_TOP_KEYS = ['polly', 'libstorage', 'rexray'] as const;
const POLLY_KEYS = ['host', 'store'];
const POLLY_STORE_KEYS = ['type', 'endpoints', 'bucket'];
/** libStorage's own top-level keys (its config.md). */
const LIBSTORAGE_KEYS = ['host', 'embedded', 'service', 'client', 'server', 'logging', 'integration', 'tls', 'executor', 'os'];
const LIBSTORAGE_SERVER_KEYS = ['services', 'endpoints', 'tls', 'auth', 'logging', 'tasks', 'parseRequestOpts', 'libstorage', 'autoEndpointMode'];
const SERVICE_KEYS = ['libstorage', 'driver', 'integration'];
const LIBSTORAGE_LEVELS: Readonly<Record<string, LogLevel>> = { panic: 'fatal', fatal: 'fatal', error: 'error', warn: 'warn', warning: 'warn', info: 'info', debug: 'debug' };
const AUTH_ACCEPTED = "POLLY_ADMIN_TOKEN, or auth.tokens in Polly's own layout";

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const kind = (v: unknown): string =>
  v === null || v === undefined ? 'an empty value' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;

/** True when the document is in the 2016 layout: a top-level `polly:`, or `libstorage.server.services`. */
export function is2016Layout(top: Obj): boolean {
  if (has(top, 'polly')) return true;
  const ls = top['libstorage'];
  return isObj(ls) && isObj(ls['server']) && has(ls['server'], 'services');
}

export interface Translation {
  /** The same configuration in Polly's own layout (not yet validated). */
  readonly doc: Obj;
  /** `libstorage:` as given, without `server.services` (translated into services). */
  readonly libstorageRaw: Obj;
}

export interface TranslateContext {
  readonly knownDrivers: readonly string[];
  /** Problems here are recorded under the 2016 keys already. */
  readonly problems: ProblemList;
  readonly aliases: PathAliases;
}

export function translate2016(top: Obj, ctx: TranslateContext): Translation {
  const { problems, aliases } = ctx;
  const doc: Obj = {};
  const put = (ownPath: ConfigPath, value: unknown, legacyPath: ConfigPath): void => {
    let node = doc;
    for (const seg of ownPath.slice(0, -1)) {
      if (!isObj(node[seg as string])) node[seg as string] = {};
      node = node[seg as string] as Obj;
    }
    node[ownPath[ownPath.length - 1] as string] = value;
    aliases.set(ownPath, legacyPath);
  };

  for (const key of OWN_TOP_KEYS) {
    if (key !== 'libstorage' && has(top, key)) {
      problems.add([key], "a key of Polly's own layout mixed with the 2016 layout (polly:, libstorage.server.services)", 'one layout per file');
    }
  }

  translatePolly(top, ctx, put);
  const ls = top['libstorage'];
  let libstorageRaw: Obj = {};
  let usedDrivers: string[] = [];
  if (ls !== undefined) {
    if (!isObj(ls)) {
      problems.add(['libstorage'], `got ${kind(ls)}`, `a mapping with keys: ${LIBSTORAGE_KEYS.join(', ')}`);
    } else {
      usedDrivers = translateLibstorage(top, ls, ctx, put);
      libstorageRaw = structuredClone(ls);
      const server = libstorageRaw['server'];
      if (isObj(server)) delete server['services'];
    }
  }

  for (const key of Object.keys(top)) {
    if ((LEGACY_TOP_KEYS as readonly string[]).includes(key) || (OWN_TOP_KEYS.includes(key) && key !== 'libstorage')) continue;
    if (usedDrivers.includes(key)) {
      if (!isObj(top[key])) problems.add([key], `got ${kind(top[key])}`, `a mapping of the ${key} driver's settings`);
      continue;
    }
    if (ctx.knownDrivers.includes(key)) {
      problems.warn([key], `no service uses the ${key} driver; section ignored`);
      continue;
    }
    problems.add([key], 'unknown key', `keys: ${[...LEGACY_TOP_KEYS, ...usedDrivers].join(', ')} (a driver's section is named after a driver a service uses)`);
  }
  if (has(top, 'rexray')) problems.warn(['rexray'], "ignored (REX-Ray's settings belong in REX-Ray's own configuration)");

  return { doc, libstorageRaw };
}

type Put = (ownPath: ConfigPath, value: unknown, legacyPath: ConfigPath) => void;

function translatePolly(top: Obj, { problems }: TranslateContext, put: Put): void {
  if (!has(top, 'polly')) return;
  const polly = top['polly'];
  if (polly === null) return;
  if (!isObj(polly)) {
    problems.add(['polly'], `got ${kind(polly)}`, `a mapping with keys: ${POLLY_KEYS.join(', ')}`);
    return;
  }
  unknownKeys(polly, ['polly'], POLLY_KEYS, problems);
  if (polly['host'] !== undefined && polly['host'] !== null) put(['server', 'host'], polly['host'], ['polly', 'host']);

  const store = polly['store'];
  if (store === undefined || store === null) return;
  if (!isObj(store)) {
    problems.add(['polly', 'store'], `got ${kind(store)}`, `a mapping with keys: ${POLLY_STORE_KEYS.join(', ')}`);
    return;
  }
  unknownKeys(store, ['polly', 'store'], POLLY_STORE_KEYS, problems);
  const type = store['type'];
  const etcd = typeof type === 'string' && type.toLowerCase() === 'etcd';
  if (type !== undefined && type !== null) {
    if (typeof type === 'string' && ['boltdb', 'consul', 'zk', 'zookeeper'].includes(type.toLowerCase())) {
      problems.add(['polly', 'store', 'type'], `${JSON.stringify(type)} is not supported`, STORE_TYPE_ACCEPTED);
    } else {
      put(['store', 'type'], etcd ? 'etcd' : type, ['polly', 'store', 'type']);
    }
  }
  const endpoints = store['endpoints'];
  if (endpoints !== undefined && endpoints !== null) {
    if (etcd) {
      // libkv took one address or a list; Polly's store.endpoints takes both.
      if (typeof endpoints === 'string' || (Array.isArray(endpoints) && endpoints.every((e) => typeof e === 'string'))) {
        put(['store', 'endpoints'], endpoints, ['polly', 'store', 'endpoints']);
      } else {
        problems.add(['polly', 'store', 'endpoints'], `got ${kind(endpoints)}`, 'for the etcd store, host:port addresses or client URLs');
      }
    } else {
      const one = Array.isArray(endpoints) && endpoints.length === 1 ? endpoints[0] : endpoints;
      if (typeof one === 'string') put(['store', 'path'], one, ['polly', 'store', 'endpoints']);
      else problems.add(['polly', 'store', 'endpoints'], `got ${kind(endpoints)}`, 'for the sqlite store, one file path');
    }
  }
  if (has(store, 'bucket')) problems.warn(['polly', 'store', 'bucket'], etcd ? 'ignored (the etcd store uses store.prefix)' : 'ignored (the SQLite store has no buckets)');
}

/** Translates `libstorage:`; returns the drivers its services use. */
function translateLibstorage(top: Obj, ls: Obj, ctx: TranslateContext, put: Put): string[] {
  const { problems } = ctx;
  unknownKeys(ls, ['libstorage'], LIBSTORAGE_KEYS, problems);

  if (ls['host'] !== undefined && ls['host'] !== null) {
    if (typeof ls['host'] === 'string') put(['libstorage', 'host'], ls['host'], ['libstorage', 'host']);
    else problems.add(['libstorage', 'host'], `got ${kind(ls['host'])}`, 'tcp://host:port, host:port or unix:///absolute/path.sock');
  }
  if (ls['embedded'] !== undefined && ls['embedded'] !== null && typeof ls['embedded'] !== 'boolean') {
    problems.add(['libstorage', 'embedded'], `got ${kind(ls['embedded'])}`, 'true or false');
  }
  logLevel(ls['logging'], ['libstorage', 'logging'], problems, put);

  const server = ls['server'];
  if (server === undefined || server === null) return [];
  if (!isObj(server)) {
    problems.add(['libstorage', 'server'], `got ${kind(server)}`, `a mapping with keys: ${LIBSTORAGE_SERVER_KEYS.join(', ')}`);
    return [];
  }
  logLevel(server['logging'], ['libstorage', 'server', 'logging'], problems, put);
  if (has(server, 'auth')) problems.add(['libstorage', 'server', 'auth'], "libStorage's token authentication is not supported", AUTH_ACCEPTED);
  if (has(server, 'tasks')) problems.warn(['libstorage', 'server', 'tasks'], 'ignored (Polly keeps no in-memory task log)');

  const serverDriver = storageDriver(server['libstorage'], ['libstorage', 'server', 'libstorage'], problems);
  const globalDefaults = integrationDefaults(ls['integration'], ['libstorage', 'integration'], problems);

  const services = server['services'];
  const used: string[] = [];
  if (!isObj(services)) {
    problems.add(['libstorage', 'server', 'services'], `got ${kind(services)}`, 'a mapping of service names to services, each naming its driver');
  } else {
    for (const [name, svc] of Object.entries(services)) {
      const driver = translateService(top, server, name, svc, serverDriver, globalDefaults, ctx, put);
      if (driver !== undefined && !used.includes(driver)) used.push(driver);
    }
  }

  const serverKeys = [...LIBSTORAGE_SERVER_KEYS, ...used];
  for (const key of Object.keys(server)) {
    if (serverKeys.includes(key)) continue;
    if (ctx.knownDrivers.includes(key)) {
      problems.warn(['libstorage', 'server', key], `no service uses the ${key} driver; section ignored`);
      continue;
    }
    problems.add(['libstorage', 'server', key], 'unknown key', `keys: ${serverKeys.join(', ')} (a driver's section is named after a driver a service uses)`);
  }
  for (const driver of used) {
    if (has(server, driver) && !isObj(server[driver])) problems.add(['libstorage', 'server', driver], `got ${kind(server[driver])}`, `a mapping of the ${driver} driver's settings`);
  }
  return used;
}

function translateService(
  top: Obj,
  server: Obj,
  name: string,
  svc: unknown,
  serverDriver: { value: string; path: ConfigPath } | undefined,
  globalDefaults: Defaults,
  { problems, aliases }: TranslateContext,
  put: Put,
): string | undefined {
  const at: ConfigPath = ['libstorage', 'server', 'services', name];
  aliases.set(['services', name], at);
  if (!isObj(svc)) {
    problems.add(at, `got ${kind(svc)}`, 'a mapping with libstorage.storage.driver (or driver) and the driver\'s settings');
    return undefined;
  }

  const nested = storageDriver(svc['libstorage'], [...at, 'libstorage'], problems);
  let plain: { value: string; path: ConfigPath } | undefined;
  if (svc['driver'] !== undefined && svc['driver'] !== null) {
    if (typeof svc['driver'] === 'string') plain = { value: svc['driver'], path: [...at, 'driver'] };
    else problems.add([...at, 'driver'], `got ${kind(svc['driver'])}`, 'the name of a storage driver');
  }
  if (nested !== undefined && plain !== undefined && nested.value !== plain.value) {
    problems.add([...at, 'driver'], `${JSON.stringify(plain.value)} contradicts libstorage.storage.driver ${JSON.stringify(nested.value)}`, 'one driver per service');
  }
  const driver = nested ?? plain ?? serverDriver;
  if (driver === undefined) {
    if (!problems.items.some((p) => p.path.length > at.length && at.every((s, i) => p.path[i] === s))) {
      problems.add([...at, 'libstorage', 'storage', 'driver'], 'is required', 'the name of a storage driver');
    }
    return undefined;
  }

  for (const key of Object.keys(svc)) {
    if (SERVICE_KEYS.includes(key) || key === driver.value) continue;
    if (key === 'auth') problems.add([...at, 'auth'], "libStorage's token authentication is not supported", AUTH_ACCEPTED);
    else problems.add([...at, key], 'unknown key', `keys: ${[...SERVICE_KEYS, driver.value].join(', ')}`);
  }

  const sections: [unknown, ConfigPath][] = [
    [top[driver.value], [driver.value]],
    [server[driver.value], ['libstorage', 'server', driver.value]],
    [svc[driver.value], [...at, driver.value]],
  ];
  let options: Obj = {};
  for (const [section, path] of sections) {
    if (section === undefined || section === null) continue;
    if (isObj(section)) options = deepMerge(options, section);
    else if (path.length === at.length + 1) problems.add(path, `got ${kind(section)}`, `a mapping of the ${driver.value} driver's settings`);
  }

  put(['services', name, 'driver'], driver.value, driver.path);
  put(['services', name, 'options'], options, at);
  const own = integrationDefaults(svc['integration'], [...at, 'integration'], problems);
  const size = own.size ?? globalDefaults.size;
  const type = own.type ?? globalDefaults.type;
  if (size !== undefined) put(['services', name, 'defaults', 'size'], size.value, size.path);
  if (type !== undefined) put(['services', name, 'defaults', 'type'], type.value, type.path);
  return driver.value;
}

/** Reads `<x>.libstorage.storage.driver`. */
function storageDriver(section: unknown, at: ConfigPath, problems: ProblemList): { value: string; path: ConfigPath } | undefined {
  if (section === undefined || section === null) return undefined;
  if (!isObj(section)) {
    problems.add(at, `got ${kind(section)}`, 'a mapping with storage.driver');
    return undefined;
  }
  unknownKeys(section, at, ['storage'], problems);
  const storage = section['storage'];
  if (storage === undefined || storage === null) return undefined;
  if (!isObj(storage)) {
    problems.add([...at, 'storage'], `got ${kind(storage)}`, 'a mapping with driver');
    return undefined;
  }
  unknownKeys(storage, [...at, 'storage'], ['driver'], problems);
  const driver = storage['driver'];
  if (driver === undefined || driver === null) return undefined;
  if (typeof driver !== 'string') {
    problems.add([...at, 'storage', 'driver'], `got ${kind(driver)}`, 'the name of a storage driver');
    return undefined;
  }
  return { value: driver, path: [...at, 'storage', 'driver'] };
}

interface Defaults {
  readonly size?: { value: unknown; path: ConfigPath };
  readonly type?: { value: unknown; path: ConfigPath };
}

/** Reads `integration.volume.operations.create.default.{size,type}`; warns about the rest. */
function integrationDefaults(section: unknown, at: ConfigPath, problems: ProblemList): Defaults {
  if (section === undefined || section === null) return {};
  const chain = ['volume', 'operations', 'create', 'default'];
  let node: unknown = section;
  for (const seg of chain) node = isObj(node) ? node[seg] : undefined;
  const defaults = isObj(node) ? node : {};
  const base = [...at, ...chain];
  const out: { size?: { value: unknown; path: ConfigPath }; type?: { value: unknown; path: ConfigPath } } = {};
  if (defaults['size'] !== undefined && defaults['size'] !== null) out.size = { value: defaults['size'], path: [...base, 'size'] };
  if (defaults['type'] !== undefined && defaults['type'] !== null) out.type = { value: defaults['type'], path: [...base, 'type'] };
  const ignored = leaves(section, at).filter((p) => !(p.length === base.length + 1 && ['size', 'type'].includes(String(p[p.length - 1])) && base.every((s, i) => p[i] === s)));
  for (const p of ignored) problems.warn(p, 'ignored (of the integration settings Polly uses only volume.operations.create.default.size and .type)');
  return out;
}

function leaves(value: unknown, at: ConfigPath): ConfigPath[] {
  if (!isObj(value)) return [at];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...at, k]));
}

function logLevel(section: unknown, at: ConfigPath, problems: ProblemList, put: Put): void {
  if (section === undefined || section === null) return;
  if (!isObj(section)) {
    problems.add(at, `got ${kind(section)}`, 'a mapping with level');
    return;
  }
  const level = section['level'];
  if (level === undefined || level === null) return;
  const mapped = typeof level === 'string' ? LIBSTORAGE_LEVELS[level.toLowerCase()] ?? (LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : undefined) : undefined;
  if (mapped === undefined) problems.add([...at, 'level'], `${kind(level)} is not supported`, 'panic, fatal, error, warn, info, debug');
  else put(['log', 'level'], mapped, [...at, 'level']);
}

function unknownKeys(obj: Obj, at: ConfigPath, accepted: readonly string[], problems: ProblemList): void {
  for (const key of Object.keys(obj)) {
    if (!accepted.includes(key)) problems.add([...at, key], 'unknown key', `keys: ${accepted.join(', ')}`);
  }
}

function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : structuredClone(v);
  }
  return out;
}
