import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { PoolSpec, Quota, ServiceSpec } from '../core/model.js';
import { checkLabels, checkName } from '../core/names.js';
import { parseSize } from '../core/units.js';
import { BODY_LIMIT_MAX, BODY_LIMIT_MIN, CONFIG_DEFAULTS } from './config-defaults.js';
import { formatPath, type ConfigPath } from './config-path.js';
import { normalizeDocker, normalizeLibstorage, normalizeOsb } from './normalize-frontdoors.js';
import { normalizeStore } from './normalize-store.js';
import { parseDuration } from './parse-duration.js';
import { parseHostPort, type HostPort } from './parse-host-port.js';
import type { LogLevel, PollyConfig, TokenSpec } from './polly-config.js';
import type { ProblemList } from './problem-list.js';
import { normalizeCsi } from './normalize-csi.js';
import { NAME_ACCEPTED, POOL_KEYS, SIZE_ACCEPTED, type PollyFile, type PoolEntry, type ServiceEntry } from './schema.js';

export interface ConfigRegistry {
  readonly knownDrivers: readonly string[];
  readonly knownFilters: readonly string[];
  readonly knownScorers: readonly string[];
}

export interface NormalizeInput {
  /** Polly's layout, after overrides, null stripping and schema validation. */
  readonly doc: PollyFile;
  /** The libStorage section as given (2016 layout: without server.services). */
  readonly libstorageRaw: Record<string, unknown>;
  readonly registry: ConfigRegistry;
  readonly problems: ProblemList;
  /** Renders a path of the merged document as the user knows it (2016 key, env var, flag). */
  readonly nameOf: (path: ConfigPath) => string;
  readonly cwd: string;
  readonly hostname: string;
}

export type NormalizedConfig = Omit<PollyConfig, 'source' | 'warnings'>;

const LABELS_ACCEPTED = 'a mapping of label keys (1-128 letters, digits, ".", "_", "/" and "-") to string values of at most 256 bytes';

/**
 * Applies defaults and every check the schema cannot express (sizes, durations, names, known
 * drivers/filters/scorers, duplicates, paths), producing the runtime configuration. Problems go
 * to `input.problems`; the caller throws when there are any.
 */
export function normalizeConfig(input: NormalizeInput): NormalizedConfig {
  const { doc, problems } = input;
  const server = normalizeServer(input);
  const dataDir = server.dataDir;

  const storePath = resolve(dataDir, doc.store?.path ?? CONFIG_DEFAULTS.storeFile);
  const store = normalizeStore(input, storePath);

  const services = normalizeServices(input, dataDir);
  checkPaths(input, services, dataDir, storePath);

  const tokens = normalizeTokens(input, services.map((s) => s.spec.name));
  const placement = normalizePlacement(input);

  const intervalMs = duration(problems, ['reconcile', 'interval'], doc.reconcile?.interval ?? CONFIG_DEFAULTS.reconcileInterval, 1);
  const idempotencyTtlMs = duration(problems, ['reconcile', 'idempotencyTtl'], doc.reconcile?.idempotencyTtl ?? CONFIG_DEFAULTS.idempotencyTtl, 1);

  const claims = normalizeClaims(input);

  const nodes = {
    leaseMs: duration(problems, ['nodes', 'lease'], doc.nodes?.lease ?? CONFIG_DEFAULTS.nodeLease, 500),
    graceMs: duration(problems, ['nodes', 'grace'], doc.nodes?.grace ?? CONFIG_DEFAULTS.nodeGrace, 0),
    operationTimeoutMs: duration(problems, ['nodes', 'operationTimeout'], doc.nodes?.operationTimeout ?? CONFIG_DEFAULTS.nodeOperationTimeout, 100),
    tokens: (doc.nodes?.tokens ?? []).map((t, i) => {
      name(problems, ['nodes', 'tokens', i, 'name'], t.name, 'token name');
      if (tokens.some((a) => a.token === t.token)) problems.add(['nodes', 'tokens', i, 'token'], 'is also an API token (auth.tokens)', 'a node token of its own');
      (t.nodes ?? []).forEach((n, j) => name(problems, ['nodes', 'tokens', i, 'nodes', j], n, 'node id'));
      return { name: t.name, token: t.token, ...(t.nodes === undefined ? {} : { nodes: [...t.nodes] }) };
    }),
  };
  const frontDoors = {
    doc, problems, nameOf: input.nameOf, cwd: input.cwd, dataDir, serviceNames: services.map((s) => s.spec.name),
    server: server.address, libstorageRaw: input.libstorageRaw,
  };

  const osb = normalizeOsb(frontDoors);
  return {
    server: server.config,
    store,
    log: { level: (doc.log?.level ?? CONFIG_DEFAULTS.logLevel) as LogLevel },
    auth: { tokens },
    placement,
    reconcile: { intervalMs, idempotencyTtlMs },
    claims,
    nodes,
    libstorage: normalizeLibstorage(frontDoors),
    ...(osb ? { osb } : {}),
    docker: normalizeDocker(frontDoors),
    csi: normalizeCsi(input, dataDir, services.map((s) => s.spec), tokens, server.config),
    services: services.map((s) => s.spec),
  };
}

function normalizeClaims(input: NormalizeInput): NormalizedConfig['claims'] {
  const { doc, problems } = input;
  const defaultTtlMs = duration(problems, ['claims', 'defaultTtl'], doc.claims?.defaultTtl ?? CONFIG_DEFAULTS.claimDefaultTtl, 1000);
  const maxTtlMs = duration(problems, ['claims', 'maxTtl'], doc.claims?.maxTtl ?? CONFIG_DEFAULTS.claimMaxTtl, 1000);
  const expireIntervalMs = duration(problems, ['claims', 'expireInterval'], doc.claims?.expireInterval ?? CONFIG_DEFAULTS.claimExpireInterval, 1);
  if (defaultTtlMs > maxTtlMs && maxTtlMs >= 1000) {
    problems.add(['claims', 'defaultTtl'], `${JSON.stringify(doc.claims?.defaultTtl ?? CONFIG_DEFAULTS.claimDefaultTtl)} is longer than claims.maxTtl`, 'a duration no longer than claims.maxTtl');
  }
  return { defaultTtlMs, maxTtlMs, expireIntervalMs };
}

// ---------------------------------------------------------------------------------------------
// server

interface ServerResult {
  readonly config: NormalizedConfig['server'];
  readonly dataDir: string;
  readonly address: HostPort | undefined;
}

function normalizeServer(input: NormalizeInput): ServerResult {
  const { problems, cwd } = input;
  const s = input.doc.server ?? {};
  const at = (key: string): ConfigPath => ['server', key];

  const address = problems.attempt(at('host'), () => parseHostPort(input.nameOf(at('host')), s.host ?? CONFIG_DEFAULTS.host));
  const dataDir = resolve(cwd, s.dataDir ?? CONFIG_DEFAULTS.dataDir);
  if (dataDir.includes('\0')) problems.add(at('dataDir'), 'contains a NUL character', 'a directory path');

  let tls: { cert: string; key: string } | undefined;
  if (s.tls !== undefined) {
    tls = { cert: resolve(cwd, s.tls.cert), key: resolve(cwd, s.tls.key) };
    for (const key of ['cert', 'key'] as const) {
      const file = tls[key];
      if (!existsSync(file)) problems.add(['server', 'tls', key], `file ${JSON.stringify(file)} not found`, `a readable PEM ${key === 'cert' ? 'certificate' : 'private key'} file`);
      else if (!statSync(file).isFile()) problems.add(['server', 'tls', key], `${JSON.stringify(file)} is not a file`, `a readable PEM ${key === 'cert' ? 'certificate' : 'private key'} file`);
    }
  }
  if (address?.tls === true && tls === undefined) {
    problems.add(at('host'), `${JSON.stringify(s.host)} asks for TLS but server.tls is not set`, 'https:// together with server.tls.cert and server.tls.key, or http://, tcp:// or host:port without TLS');
  }
  if (address?.tls === false && tls !== undefined) {
    problems.add(at('host'), `${JSON.stringify(s.host)} asks for plain HTTP but server.tls is set`, 'https://, tcp:// or host:port when server.tls is set');
  }

  const shutdownTimeoutMs = duration(problems, at('shutdownTimeout'), s.shutdownTimeout ?? CONFIG_DEFAULTS.shutdownTimeout, 0);

  let bodyLimitBytes = size(problems, at('bodyLimit'), s.bodyLimit ?? CONFIG_DEFAULTS.bodyLimit) ?? 0;
  if (bodyLimitBytes !== 0 && (bodyLimitBytes < BODY_LIMIT_MIN || bodyLimitBytes > BODY_LIMIT_MAX)) {
    problems.add(at('bodyLimit'), `${JSON.stringify(s.bodyLimit)} is out of range`, 'a size from 1Ki to 1Gi such as 1Mi (a bare number means GiB)');
    bodyLimitBytes = 0;
  }

  let nodeId: string;
  if (s.nodeId !== undefined) {
    nodeId = name(problems, at('nodeId'), s.nodeId, 'node id') ?? '';
  } else {
    nodeId = input.hostname;
    if (!isName(nodeId)) {
      problems.add(at('nodeId'), `not set, and the host name ${JSON.stringify(nodeId)} is not a valid node id`, `server.nodeId set to ${NAME_ACCEPTED}`);
    }
  }

  const config = {
    host: address?.host ?? '',
    port: address?.port ?? 0,
    ...(tls === undefined ? {} : { tls }),
    dataDir,
    shutdownTimeoutMs,
    bodyLimitBytes,
    inProcessAgent: s.inProcessAgent ?? CONFIG_DEFAULTS.inProcessAgent,
    nodeId,
  };
  return { config, dataDir, address };
}

// ---------------------------------------------------------------------------------------------
// services and pools

interface ServiceResult {
  readonly spec: ServiceSpec;
  /** Resolved pool directories, by pool index. */
  readonly poolPaths: readonly string[];
}

function normalizeServices(input: NormalizeInput, dataDir: string): ServiceResult[] {
  const entries: [string, ServiceEntry][] =
    input.doc.services === undefined
      ? [[CONFIG_DEFAULTS.serviceName, { driver: CONFIG_DEFAULTS.serviceDriver }]]
      : Object.entries(input.doc.services);
  return entries.map(([serviceName, entry]) => normalizeService(input, dataDir, serviceName, entry));
}

function normalizeService(input: NormalizeInput, dataDir: string, serviceName: string, entry: ServiceEntry): ServiceResult {
  const { problems, registry } = input;
  const at = (...rest: (string | number)[]): ConfigPath => ['services', serviceName, ...rest];

  if (!isName(serviceName)) problems.add(at(), `${JSON.stringify(serviceName)} is not a valid service name`, NAME_ACCEPTED);
  if (!registry.knownDrivers.includes(entry.driver)) {
    problems.add(at('driver'), `unknown driver ${JSON.stringify(entry.driver)}`, list(registry.knownDrivers));
  }

  const defaultSizeBytes = size(problems, at('defaults', 'size'), entry.defaults?.size ?? CONFIG_DEFAULTS.defaultSize) ?? 0;
  const defaultType = entry.defaults?.type === undefined ? undefined : name(problems, at('defaults', 'type'), entry.defaults.type, 'type name');

  const quota: { maxVolumes?: number; maxBytes?: number } = {};
  if (entry.quota?.maxVolumes !== undefined) quota.maxVolumes = entry.quota.maxVolumes;
  if (entry.quota?.maxBytes !== undefined) {
    const bytes = size(problems, at('quota', 'maxBytes'), entry.quota.maxBytes);
    if (bytes !== undefined) quota.maxBytes = bytes;
  }

  const poolEntries: PoolEntry[] = entry.pools ?? [{ name: CONFIG_DEFAULTS.poolName }];
  const seen = new Map<string, number>();
  const pools: PoolSpec[] = [];
  const poolPaths: string[] = [];
  poolEntries.forEach((pool, i) => {
    const previous = seen.get(pool.name);
    if (previous !== undefined) {
      problems.add(at('pools', i, 'name'), `pool ${JSON.stringify(pool.name)} is already defined at ${input.nameOf(at('pools', previous))}`, 'pool names unique within a service');
    } else {
      seen.set(pool.name, i);
    }
    const result = normalizePool(input, dataDir, serviceName, defaultType, pool, at('pools', i));
    pools.push(result.spec);
    poolPaths.push(result.path);
  });

  if (defaultType !== undefined && !pools.some((p) => p.types.includes(defaultType))) {
    const offered = [...new Set(pools.flatMap((p) => p.types))];
    problems.add(at('defaults', 'type'), `no pool of service ${JSON.stringify(serviceName)} offers type ${JSON.stringify(defaultType)}`, `a type a pool lists in its types${offered.length > 0 ? ` (${offered.join(', ')})` : ''}`);
  }

  const spec: ServiceSpec = {
    name: serviceName,
    driver: entry.driver,
    ...(entry.description === undefined ? {} : { description: entry.description }),
    ...(defaultType === undefined ? {} : { defaultType }),
    defaultSizeBytes,
    quota: quota as Quota,
    pools,
    driverConfig: structuredClone(entry.options ?? {}),
  };
  return { spec, poolPaths };
}

function normalizePool(
  input: NormalizeInput,
  dataDir: string,
  serviceName: string,
  defaultType: string | undefined,
  pool: PoolEntry,
  at: ConfigPath,
): { spec: PoolSpec; path: string } {
  const { problems } = input;
  const sub = (...rest: (string | number)[]): ConfigPath => [...at, ...rest];

  name(problems, sub('name'), pool.name, 'pool name');
  const dir = resolve(dataDir, pool.path ?? join('pools', serviceName, pool.name));
  if (dir.includes('\0')) problems.add(sub('path'), 'contains a NUL character', 'a directory path');

  const capacityBytes = pool.capacity === undefined ? undefined : size(problems, sub('capacity'), pool.capacity);
  if (pool.zone !== undefined) name(problems, sub('zone'), pool.zone, 'zone name');
  if (pool.node !== undefined) name(problems, sub('node'), pool.node, 'node id');

  let types: string[];
  if (pool.types === undefined) {
    types = defaultType === undefined ? [] : [defaultType];
  } else {
    types = [];
    pool.types.forEach((t, i) => {
      if (name(problems, sub('types', i), t, 'type name') === undefined) return;
      if (types.includes(t)) problems.add(sub('types', i), `type ${JSON.stringify(t)} is listed twice`, 'each type once');
      else types.push(t);
    });
  }

  let labels: Record<string, string> = {};
  if (pool.labels !== undefined) {
    try {
      labels = checkLabels('labels', pool.labels);
    } catch (e) {
      const field = String((e as { details?: { field?: unknown } }).details?.field ?? 'labels');
      const key = field.startsWith('labels.') ? field.slice('labels.'.length) : undefined;
      problems.add(key === undefined ? sub('labels') : sub('labels', key), 'is not a valid label', LABELS_ACCEPTED);
    }
  }

  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pool)) {
    if ((POOL_KEYS as readonly string[]).includes(key)) continue;
    const near = nearMiss(key, POOL_KEYS);
    if (near !== undefined) {
      problems.add(sub(key), `unknown key, looks like a misspelling of ${JSON.stringify(near)}`, `keys: ${POOL_KEYS.join(', ')}; other keys are driver parameters`);
      continue;
    }
    params[key] = structuredClone(value);
  }
  params['path'] = dir;

  const spec: PoolSpec = {
    name: pool.name,
    ...(capacityBytes === undefined ? {} : { capacityBytes }),
    overcommit: pool.overcommit ?? CONFIG_DEFAULTS.overcommit,
    ...(pool.zone === undefined ? {} : { zone: pool.zone }),
    ...(pool.node === undefined ? {} : { node: pool.node }),
    types,
    labels,
    maxIops: pool.maxIops ?? CONFIG_DEFAULTS.maxIops,
    params,
  };
  return { spec, path: dir };
}

/** Pool directories must not overlap one another, the data directory or the store file. */
function checkPaths(input: NormalizeInput, services: readonly ServiceResult[], dataDir: string, storePath: string): void {
  const all = services.flatMap((s) => s.poolPaths.map((dir, i) => ({ dir, at: ['services', s.spec.name, 'pools', i, 'path'] as ConfigPath })));
  const within = (child: string, parent: string): boolean => {
    const rel = relative(parent, child);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  };
  all.forEach((a, i) => {
    if (within(dataDir, a.dir)) {
      input.problems.add(a.at, `${JSON.stringify(a.dir)} contains server.dataDir ${JSON.stringify(dataDir)}`, 'a directory of its own, such as <dataDir>/pools/<service>/<pool>');
      return;
    }
    if (within(storePath, a.dir)) {
      input.problems.add(a.at, `${JSON.stringify(a.dir)} contains the store file ${JSON.stringify(storePath)}`, 'a directory of its own');
      return;
    }
    for (const b of all.slice(0, i)) {
      if (within(a.dir, b.dir) || within(b.dir, a.dir)) {
        input.problems.add(a.at, `${JSON.stringify(a.dir)} overlaps the directory of ${input.nameOf(b.at.slice(0, -1))}`, 'one directory per pool, not nested in another pool');
        return;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// auth, placement

function normalizeTokens(input: NormalizeInput, serviceNames: readonly string[]): TokenSpec[] {
  const { problems } = input;
  const out: TokenSpec[] = [];
  const byName = new Map<string, number>();
  const byToken = new Map<string, number>();
  (input.doc.auth?.tokens ?? []).forEach((t, i) => {
    const at = (...rest: (string | number)[]): ConfigPath => ['auth', 'tokens', i, ...rest];
    name(problems, at('name'), t.name, 'token name');
    const sameName = byName.get(t.name);
    if (sameName !== undefined) problems.add(at('name'), `name ${JSON.stringify(t.name)} is already used by ${input.nameOf(['auth', 'tokens', sameName])}`, 'a name used by one token only');
    else byName.set(t.name, i);
    const sameToken = byToken.get(t.token);
    if (sameToken !== undefined) problems.add(at('token'), `same token as ${input.nameOf(['auth', 'tokens', sameToken])}`, 'a token used by one entry only');
    else byToken.set(t.token, i);

    let services: readonly string[] | '*' = '*';
    const given = t.services;
    if (t.role === 'admin') {
      if (given !== undefined && given !== '*') problems.add(at('services'), 'admin tokens reach every service', 'services left out (or "*") on admin tokens');
    } else if (typeof given === 'string') {
      if (given !== '*') problems.add(at('services'), `${JSON.stringify(given)} is not a list`, `"*" (every service) or a list of service names (${list(serviceNames)})`);
    } else if (given !== undefined) {
      if (given.length === 0) problems.add(at('services'), 'must not be empty', `"*" (every service) or a list of service names (${list(serviceNames)})`);
      const names: string[] = [];
      given.forEach((s, j) => {
        if (!serviceNames.includes(s)) problems.add(at('services', j), `unknown service ${JSON.stringify(s)}`, list(serviceNames));
        else if (!names.includes(s)) names.push(s);
      });
      services = names;
    }
    out.push({ token: t.token, role: t.role, name: t.name, services });
  });
  return out;
}

function normalizePlacement(input: NormalizeInput): NormalizedConfig['placement'] {
  const { problems, registry } = input;
  const p = input.doc.placement ?? {};

  let filters: string[] = [...registry.knownFilters];
  if (p.filters !== undefined) {
    filters = [];
    p.filters.forEach((f, i) => {
      if (!registry.knownFilters.includes(f)) problems.add(['placement', 'filters', i], `unknown filter ${JSON.stringify(f)}`, list(registry.knownFilters));
      else if (filters.includes(f)) problems.add(['placement', 'filters', i], `filter ${JSON.stringify(f)} is listed twice`, 'each filter once');
      else filters.push(f);
    });
  }

  let scorers: Record<string, number> = Object.fromEntries(registry.knownScorers.map((s) => [s, CONFIG_DEFAULTS.scorerWeight]));
  if (p.scorers !== undefined) {
    scorers = {};
    for (const [scorer, weight] of Object.entries(p.scorers)) {
      if (!registry.knownScorers.includes(scorer)) problems.add(['placement', 'scorers', scorer], `unknown scorer ${JSON.stringify(scorer)}`, list(registry.knownScorers));
      else scorers[scorer] = weight;
    }
  }

  return {
    filters,
    scorers,
    minFeasiblePools: p.minFeasiblePools ?? CONFIG_DEFAULTS.minFeasiblePools,
    feasiblePercent: p.feasiblePercent ?? CONFIG_DEFAULTS.feasiblePercent,
  };
}

// ---------------------------------------------------------------------------------------------
// helpers

const list = (names: readonly string[]): string => (names.length > 0 ? names.join(', ') : '(none registered)');

function isName(value: string): boolean {
  try {
    checkName('name', value);
    return true;
  } catch {
    return false;
  }
}

function name(problems: ProblemList, path: ConfigPath, value: string, what: string): string | undefined {
  if (isName(value)) return value;
  problems.add(path, `${JSON.stringify(value)} is not a valid ${what}`, NAME_ACCEPTED);
  return undefined;
}

function size(problems: ProblemList, path: ConfigPath, value: unknown): number | undefined {
  try {
    return parseSize(formatPath(path), value);
  } catch {
    problems.add(path, `${typeof value === 'string' ? JSON.stringify(value) : `the number ${String(value)}`} is not a valid size`, SIZE_ACCEPTED);
    return undefined;
  }
}

function duration(problems: ProblemList, path: ConfigPath, value: unknown, minMs: number): number {
  const ms = problems.attempt(path, () => parseDuration(formatPath(path), value));
  if (ms === undefined) return 0;
  if (ms < minMs) {
    problems.add(path, `${JSON.stringify(value)} is too short`, minMs <= 1 ? 'a duration above 0, such as 500ms or 30s' : `a duration of at least ${minMs}ms`);
  }
  return ms;
}

/** The known key a misspelt key most likely meant (case slips, one or two letters off). */
function nearMiss(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    const allowed = c.length >= 6 ? 2 : 1;
    if (k === c || editDistance(k, c) <= allowed) return candidate;
  }
  return undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
