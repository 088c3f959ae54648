import { isAbsolute, resolve } from 'node:path';
import type { ServiceSpec } from '../core/model.js';
import type { ConfigPath } from './config-path.js';
import type { NormalizeInput } from './normalize-config.js';
import { parseHostPort } from './parse-host-port.js';
import type { CsiConfig, CsiEndpointConfig, CsiServiceName, TokenSpec } from './polly-config.js';
import { CSI_ENDPOINT_ACCEPTED, CSI_SERVICES } from './schema.js';

export const CSI_DEFAULT_SOCKET = 'csi.sock';
export const CSI_DEFAULT_PLUGIN_NAME = 'csi.polly.io';
/** A unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL). */
const MAX_SOCKET_PATH_BYTES = 107;
const PLUGIN_NAME = /^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** Applies the defaults of the `csi:` section and checks what the schema cannot. */
export function normalizeCsi(input: NormalizeInput, dataDir: string, services: readonly ServiceSpec[], tokens: readonly TokenSpec[], server: { readonly nodeId: string; readonly inProcessAgent: boolean }): CsiConfig {
  const nodeId = server.nodeId;
  // Without an in-process agent this host has no node service to offer by default.
  const defaults: readonly CsiServiceName[] = server.inProcessAgent ? CSI_SERVICES : ['identity', 'controller'];
  const c = input.doc.csi ?? {};
  const { problems } = input;
  const endpoints: CsiEndpointConfig[] = [];
  const first = endpoint(input, ['csi', 'endpoint'], c.endpoint ?? `unix://${CSI_DEFAULT_SOCKET}`, dataDir);
  if (first !== undefined) endpoints.push({ endpoint: first, services: unique(c.services ?? defaults) });
  (c.endpoints ?? []).forEach((e, i) => {
    const at: ConfigPath = ['csi', 'endpoints', i, 'endpoint'];
    const ep = endpoint(input, at, e.endpoint, dataDir);
    if (ep === undefined) return;
    if (endpoints.some((x) => x.endpoint === ep)) problems.add(at, `${JSON.stringify(e.endpoint)} is used twice`, 'an endpoint of its own for each entry');
    else endpoints.push({ endpoint: ep, services: unique(e.services ?? defaults) });
  });

  const pluginName = c.pluginName ?? CSI_DEFAULT_PLUGIN_NAME;
  if (!PLUGIN_NAME.test(pluginName)) problems.add(['csi', 'pluginName'], `${JSON.stringify(pluginName)} is not a domain name`, 'lower-case domain name notation of at most 63 characters, such as csi.polly.io');

  const defaultService = c.defaultService ?? services[0]?.name ?? '';
  if (c.defaultService !== undefined && !services.some((s) => s.name === c.defaultService)) {
    problems.add(['csi', 'defaultService'], `${JSON.stringify(c.defaultService)} is not a configured service`, `one of: ${services.map((s) => s.name).join(', ')}`);
  }

  let caller: CsiConfig['caller'];
  if (c.caller !== undefined) {
    const token = tokens.find((t) => t.name === c.caller);
    if (!token) problems.add(['csi', 'caller'], `${JSON.stringify(c.caller)} names no token of auth.tokens`, 'the name of a token in auth.tokens');
    else caller = { name: token.name, role: token.role, services: token.services };
  }
  const nodes = [...new Set([nodeId, ...services.flatMap((s) => s.pools.flatMap((p) => (p.node !== undefined ? [p.node] : []))), ...(c.nodes ?? [])])];
  return {
    enabled: c.enabled ?? true, endpoints, pluginName, defaultService,
    ...(caller ? { caller } : {}), nodes, maxVolumesPerNode: c.maxVolumesPerNode ?? 0,
  };
}

const unique = (list: readonly CsiServiceName[]): CsiServiceName[] => [...new Set(list)];

/** `unix://…` (relative paths resolve against the data dir) or `tcp://host:port` / `host:port`. */
function endpoint(input: NormalizeInput, at: ConfigPath, value: string, dataDir: string): string | undefined {
  const shown = JSON.stringify(value);
  if (/^unix:\/\//i.test(value)) {
    const raw = value.slice('unix://'.length);
    if (raw === '' || raw.includes('\0')) {
      input.problems.add(at, `${shown} names no socket path`, CSI_ENDPOINT_ACCEPTED);
      return undefined;
    }
    const path = isAbsolute(raw) ? raw : resolve(dataDir, raw);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      input.problems.add(at, `the socket path ${JSON.stringify(path)} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`, 'a shorter socket path (the kernel limit of unix sockets)');
      return undefined;
    }
    return `unix://${path}`;
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) && !/^tcp:\/\//i.test(value)) {
    input.problems.add(at, `${shown}: only unix:// and tcp:// endpoints are served`, CSI_ENDPOINT_ACCEPTED);
    return undefined;
  }
  const hp = input.problems.attempt(at, () => parseHostPort(input.nameOf(at), value));
  if (hp === undefined) return undefined;
  return `tcp://${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}
