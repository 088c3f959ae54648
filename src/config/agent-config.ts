import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { LocalPool } from '../agent/agent-runtime.js';
import { PollyError } from '../core/errors.js';
import { checkLabels, checkName } from '../core/names.js';
import { parseSize } from '../core/units.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { LOG_LEVELS, type LogLevel } from './polly-config.js';
import { readConfigFile } from './read-config-file.js';

/** The configuration of `polly agent` (its own small file; flags win over it). */
export interface AgentConfig {
  readonly source: string;
  readonly server: string;
  readonly nodeId: string;
  readonly token?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Absolute; volumes are mounted at <mountDir>/<volumeId>. */
  readonly mountDir: string;
  readonly devices: readonly string[];
  readonly pools: readonly LocalPool[];
  readonly logLevel: LogLevel;
  /** The Docker volume plugin of this node (D80): served when `socket` is set. */
  readonly docker?: AgentDockerConfig;
  /** Run a fence guard process beside the agent (D82; default true). */
  readonly fenceGuard: boolean;
}

export interface AgentDockerConfig {
  /** Absolute path of the plugin's unix socket (Docker finds `/run/docker/plugins/<name>.sock`). */
  readonly socket: string;
  /** Optional spec file announcing the socket (`unix://<socket>`), e.g. `/etc/docker/plugins/polly.spec`. */
  readonly specFile?: string;
}

export interface AgentFlags {
  readonly config?: string;
  readonly server?: string;
  readonly nodeId?: string;
  readonly labels?: readonly string[];
  readonly mountDir?: string;
  readonly dockerSocket?: string;
  readonly logLevel?: string;
}

const TOP_KEYS = ['server', 'nodeId', 'token', 'labels', 'mountDir', 'devices', 'pools', 'log', 'docker', 'fenceGuard'];
const DOCKER_KEYS = ['socket', 'specFile'];
/** A unix socket path must fit in sockaddr_un (108 bytes on Linux, with room to spare). */
const MAX_SOCKET_PATH = 100;
const POOL_KEYS = ['service', 'name', 'path', 'capacity', 'types', 'labels', 'zone'];

/** Reads flags, POLLY_NODE_TOKEN and the optional file into a checked agent configuration. */
export function loadAgentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AgentConfig {
  const file = flags.config === undefined ? undefined : readConfigFile({ configFile: flags.config });
  const source = file?.source ?? 'flags';
  const doc = (file?.data ?? {}) as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => void problems.push({ path, message });
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) add('(file)', 'must be a mapping; accepted keys: ' + TOP_KEYS.join(', '));
  for (const k of Object.keys(doc)) if (!TOP_KEYS.includes(k)) add(k, `unknown key; accepted: ${TOP_KEYS.join(', ')}`);

  const server = flags.server ?? (typeof doc['server'] === 'string' ? doc['server'] : undefined);
  if (server === undefined) add('server', 'is required (--server http://host:port); accepted: the URL of the Polly server');
  else {
    try {
      const u = new URL(server);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') add('server', `${JSON.stringify(server)}: accepted: http://host:port or https://host:port`);
    } catch {
      add('server', `${JSON.stringify(server)} is not a URL; accepted: http://host:port or https://host:port`);
    }
  }
  const nodeId = flags.nodeId ?? (doc['nodeId'] as string | undefined) ?? hostname();
  attempt(add, 'nodeId', () => checkName('nodeId', nodeId));

  const token = env['POLLY_NODE_TOKEN'] ?? (doc['token'] as string | undefined);
  if (token !== undefined && (typeof token !== 'string' || !/^[\x21-\x7e]{16,4096}$/.test(token))) add('token', 'accepted: at least 16 printable ASCII characters without spaces');

  const labels: Record<string, string> = {};
  attempt(add, 'labels', () => Object.assign(labels, checkLabels('labels', doc['labels'])));
  for (const l of flags.labels ?? []) {
    const i = l.indexOf('=');
    if (i <= 0) add('--label', `${JSON.stringify(l)} is not key=value`);
    else labels[l.slice(0, i)] = l.slice(i + 1);
  }
  attempt(add, '--label', () => checkLabels('labels', labels));

  const mountDirRaw = flags.mountDir ?? (doc['mountDir'] as string | undefined) ?? `/var/lib/polly/agent/${nodeId}/mounts`;
  const mountDir = resolve(cwd, String(mountDirRaw));
  if (mountDir.includes('\0')) add('mountDir', 'contains a NUL character');

  const devices = Array.isArray(doc['devices']) ? doc['devices'].map(String) : [];
  if (doc['devices'] !== undefined && !Array.isArray(doc['devices'])) add('devices', 'must be a list of paths');

  const pools: LocalPool[] = [];
  const rawPools = doc['pools'] ?? [];
  if (!Array.isArray(rawPools)) add('pools', 'must be a list of pools, each with service, name and path');
  else rawPools.forEach((p: Record<string, unknown>, i: number) => {
    const at = `pools[${i}]`;
    if (typeof p !== 'object' || p === null) return add(at, 'must be a mapping with service, name and path');
    for (const k of Object.keys(p)) if (!POOL_KEYS.includes(k)) add(`${at}.${k}`, `unknown key; accepted: ${POOL_KEYS.join(', ')}`);
    attempt(add, `${at}.service`, () => checkName('service', p['service']));
    attempt(add, `${at}.name`, () => checkName('name', p['name']));
    const path = p['path'];
    if (typeof path !== 'string' || !isAbsolute(path) || path.includes('\0')) add(`${at}.path`, 'is required: the absolute directory of the pool on this node');
    let capacityBytes: number | undefined;
    if (p['capacity'] !== undefined) attempt(add, `${at}.capacity`, () => (capacityBytes = parseSize('capacity', p['capacity'])));
    const types = Array.isArray(p['types']) ? p['types'].map(String) : [];
    types.forEach((t, j) => attempt(add, `${at}.types[${j}]`, () => checkName('type', t)));
    let poolLabels: Record<string, string> = {};
    attempt(add, `${at}.labels`, () => (poolLabels = checkLabels('labels', p['labels'])));
    const zone = p['zone'] === undefined ? labels['zone'] : String(p['zone']);
    if (zone !== undefined) attempt(add, `${at}.zone`, () => checkName('zone', zone));
    pools.push({
      service: String(p['service']), name: String(p['name']), ...(capacityBytes === undefined ? {} : { capacityBytes }),
      types, labels: poolLabels, ...(zone === undefined ? {} : { zone }), params: { path },
    });
  });

  const docker = dockerConfig(flags, doc['docker'], cwd, add);
  const fenceGuard = doc['fenceGuard'] ?? true;
  if (typeof fenceGuard !== 'boolean') add('fenceGuard', 'accepted: true or false');

  const level = flags.logLevel ?? ((doc['log'] as { level?: string } | undefined)?.level) ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) add('log.level', `accepted: ${LOG_LEVELS.join(', ')}`);

  if (problems.length > 0) throw new ConfigError(problems, source);
  return {
    source, server: server!, nodeId, ...(token === undefined ? {} : { token }), labels, mountDir, devices, pools, logLevel: level as LogLevel,
    ...(docker === undefined ? {} : { docker }), fenceGuard: fenceGuard === true,
  };
}

/** `docker: { socket, specFile }` of the file, `--docker-socket` winning over `docker.socket`. */
function dockerConfig(flags: AgentFlags, raw: unknown, cwd: string, add: (path: string, message: string) => void): AgentDockerConfig | undefined {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    add('docker', `must be a mapping; accepted keys: ${DOCKER_KEYS.join(', ')}`);
    return undefined;
  }
  const d = (raw ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!DOCKER_KEYS.includes(k)) add(`docker.${k}`, `unknown key; accepted: ${DOCKER_KEYS.join(', ')}`);
  const path = (at: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '' || value.includes('\0')) {
      add(at, 'must be a path');
      return undefined;
    }
    return resolve(cwd, value);
  };
  const socket = path(flags.dockerSocket !== undefined ? '--docker-socket' : 'docker.socket', flags.dockerSocket ?? d['socket']);
  const specFile = path('docker.specFile', d['specFile']);
  if (socket !== undefined && Buffer.byteLength(socket) > MAX_SOCKET_PATH) add('docker.socket', `${JSON.stringify(socket)} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes here)`);
  if (specFile !== undefined && socket === undefined) add('docker.specFile', 'is set but docker.socket is not (a spec file announces the socket)');
  return socket === undefined ? undefined : { socket, ...(specFile === undefined ? {} : { specFile }) };
}

function attempt(add: (path: string, message: string) => void, path: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    // Core's checks say "<field>: what is wrong"; the path already names the field.
    const field = e instanceof PollyError ? e.details['field'] : undefined;
    const message = e instanceof Error ? e.message : String(e);
    add(path, typeof field === 'string' && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message);
  }
}
