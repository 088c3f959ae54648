import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ConfigPath } from './config-path.js';
import { CONFIG_DEFAULTS } from './config-defaults.js';
import { parseHostPort, type HostPort } from './parse-host-port.js';
import type { DockerConfig, LibstorageConfig, LibstorageServiceConfig, ListenAddress, OsbConfig } from './polly-config.js';
import type { ProblemList } from './problem-list.js';
import type { LibstorageServiceEntry, PollyFile } from './schema.js';

export const LIBSTORAGE_HOST_ACCEPTED = 'tcp://host:port, host:port or unix:///absolute/path.sock';

interface Input {
  readonly doc: PollyFile;
  readonly problems: ProblemList;
  readonly nameOf: (path: ConfigPath) => string;
  readonly cwd: string;
  readonly dataDir: string;
  readonly serviceNames: readonly string[];
  /** The admin listener, for clash checks. */
  readonly server: HostPort | undefined;
  readonly libstorageRaw: Record<string, unknown>;
}

const anyHost = (h: string): boolean => h === '0.0.0.0' || h === '::';

function clashes(a: HostPort, b: HostPort | undefined): boolean {
  if (b === undefined || a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || anyHost(a.host) || anyHost(b.host);
}

function tlsFiles(input: Input, path: ConfigPath, tls: { cert: string; key: string } | undefined): { cert: string; key: string } | undefined {
  if (tls === undefined) return undefined;
  const out = { cert: resolve(input.cwd, tls.cert), key: resolve(input.cwd, tls.key) };
  for (const key of ['cert', 'key'] as const) {
    const file = out[key];
    if (!existsSync(file) || !statSync(file).isFile()) input.problems.add([...path, key], `file ${JSON.stringify(file)} not found`, `a readable PEM ${key === 'cert' ? 'certificate' : 'private key'} file`);
  }
  return out;
}

/** `libstorage.*`: the listener (default 127.0.0.1:7981), TLS and the libStorage services. */
export function normalizeLibstorage(input: Input): LibstorageConfig {
  const { problems } = input;
  const ls = input.doc.libstorage ?? {};
  const path: ConfigPath = ['libstorage', 'host'];
  const host = ls.host;
  let listen: ListenAddress | undefined;
  const given = host ?? CONFIG_DEFAULTS.libstorageHost;
  if (/^unix:\/\//i.test(given)) {
    const file = given.slice('unix://'.length);
    if (!isAbsolute(file)) problems.add(path, `${JSON.stringify(given)} does not name an absolute socket path`, LIBSTORAGE_HOST_ACCEPTED);
    else listen = { kind: 'unix', path: file };
  } else if (/^https?:\/\//i.test(given)) {
    problems.add(path, `${JSON.stringify(given)}: libStorage hosts are not URLs`, LIBSTORAGE_HOST_ACCEPTED);
  } else {
    const address = problems.attempt(path, () => parseHostPort(input.nameOf(path), given));
    if (address !== undefined) {
      if (clashes(address, input.server)) {
        problems.add(path, `${JSON.stringify(given)} is the same address as ${input.nameOf(['server', 'host'])}`, 'a port of its own for the libStorage front door');
      }
      listen = { kind: 'tcp', host: address.host, port: address.port };
    }
  }
  const tls = tlsFiles(input, ['libstorage', 'tls'], ls.tls);

  const services: LibstorageServiceConfig[] = [];
  const entries: [string, LibstorageServiceEntry][] = ls.services !== undefined ? Object.entries(ls.services) : input.serviceNames.map((n) => [n, {}]);
  for (const [name, entry] of entries) {
    const at: ConfigPath = ['libstorage', 'services', name];
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) || name.includes('..')) {
      problems.add(at, `${JSON.stringify(name)} is not a valid libStorage service name`, '1-128 letters, digits, ".", "_" and "-", starting with a letter or digit');
      continue;
    }
    const service = entry.service ?? name;
    if (!input.serviceNames.includes(service)) {
      problems.add([...at, 'service'], `${JSON.stringify(service)} is not a configured service`, `one of: ${input.serviceNames.join(', ')}`);
      continue;
    }
    services.push({
      name, service, driverName: entry.driver ?? 'vfs', driverType: entry.type ?? 'object',
      ...(entry.jwtSecret !== undefined ? { jwtSecret: entry.jwtSecret } : {}),
    });
  }
  return {
    ...(host !== undefined ? { host } : {}),
    ...(ls.enabled === false || listen === undefined ? {} : { listen }),
    ...(tls ? { tls } : {}),
    services,
    raw: structuredClone(input.libstorageRaw),
  };
}

/** A TCP listener of a front door: parsed, and not the admin listener's address. */
function ownAddress(input: Input, path: ConfigPath, value: string | undefined, accepted: string): { host: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const address = input.problems.attempt(path, () => parseHostPort(input.nameOf(path), value));
  if (address === undefined) return undefined;
  if (clashes(address, input.server)) input.problems.add(path, `${JSON.stringify(value)} is the same address as ${input.nameOf(['server', 'host'])}`, accepted);
  return { host: address.host, port: address.port };
}

/** `osb.*`: served only when both credentials are set. */
export function normalizeOsb(input: Input): OsbConfig | undefined {
  const { problems } = input;
  const o = input.doc.osb;
  if (o === undefined) return undefined;
  if ((o.username === undefined) !== (o.password === undefined)) {
    problems.add(['osb', o.username === undefined ? 'username' : 'password'], 'is required when the other credential is set', 'both osb.username and osb.password (or neither: no broker)');
    return undefined;
  }
  if (o.username === undefined || o.password === undefined) {
    if (o.host !== undefined) problems.add(['osb', 'host'], 'is set but the broker has no credentials', 'osb.username and osb.password together with osb.host');
    return undefined;
  }
  const listen = ownAddress(input, ['osb', 'host'], o.host, 'a port of its own, or no osb.host to serve /v2 on the admin listener');
  return { ...(listen ? { listen } : {}), username: o.username, password: o.password, identity: o.identity ?? 'cloudfoundry' };
}

/** `docker.*`: the volume plugin socket (default `<dataDir>/plugins/polly.sock`). */
export function normalizeDocker(input: Input): DockerConfig {
  const { problems } = input;
  const d = input.doc.docker ?? {};
  const socket = resolve(input.dataDir, d.socket ?? 'plugins/polly.sock');
  if (Buffer.byteLength(socket) > 100) problems.add(['docker', 'socket'], `${JSON.stringify(socket)} is longer than a unix socket path may be (100 bytes here)`, 'a shorter absolute path');
  const tcp = ownAddress(input, ['docker', 'host'], d.host, 'a port of its own for the Docker plugin');
  if (d.specFile !== undefined && tcp === undefined) problems.add(['docker', 'specFile'], 'is set but docker.host is not', 'docker.specFile together with docker.host (a spec file announces a TCP address)');
  const service = d.service ?? input.serviceNames[0] ?? CONFIG_DEFAULTS.serviceName;
  if (d.service !== undefined && !input.serviceNames.includes(d.service)) {
    problems.add(['docker', 'service'], `${JSON.stringify(d.service)} is not a configured service`, `one of: ${input.serviceNames.join(', ')}`);
  }
  return {
    enabled: d.enabled ?? true, socket,
    ...(tcp ? { tcp } : {}),
    ...(d.specFile !== undefined ? { specFile: resolve(input.dataDir, d.specFile) } : {}),
    service, mountRoot: resolve(input.dataDir, d.mountRoot ?? 'mounts'),
  };
}
