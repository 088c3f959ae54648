import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from './config-error.js';

export const HOST_PORT_ACCEPTED =
  'host:port, [ipv6]:port, :port (all interfaces), tcp://host:port, http://host:port or https://host:port; port 0-65535 (0 picks a free port)';

export interface HostPort {
  /** Hostname or IP address, IPv6 without brackets; `0.0.0.0` when the address named none. */
  readonly host: string;
  readonly port: number;
  /** Set only when the address had a scheme that says: `https://` → true, `http://` → false. */
  readonly tls?: boolean;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parses a listen/dial address: `127.0.0.1:7978`, `tcp://h:p`, `http://h:p`, `https://h:p`,
 * `[::1]:7978`, `:7978` (→ 0.0.0.0). Throws a ConfigError naming `field` otherwise.
 */
export function parseHostPort(field: string, value: string): HostPort {
  const fail = (what: string): never => {
    throw new ConfigError([{ path: field, message: `${what}; accepted: ${HOST_PORT_ACCEPTED}` }]);
  };
  if (typeof value !== 'string' || value === '') return fail('an address is required');
  const shown = JSON.stringify(value);
  if (/\s/.test(value)) return fail(`${shown} contains white space`);

  let rest = value;
  let tls: boolean | undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    if (name === 'https') tls = true;
    else if (name === 'http') tls = false;
    else if (name !== 'tcp') return fail(`${shown}: scheme "${scheme[1]}://" is not supported here`);
    rest = value.slice(scheme[0].length);
    if (tls !== undefined && rest.endsWith('/')) rest = rest.slice(0, -1);
  }
  if (/[/?#@]/.test(rest)) return fail(`${shown} has a path, query or user part`);

  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(rest);
    if (!m) return fail(`${shown} needs a port after the bracketed address`);
    host = m[1]!;
    portText = m[2]!;
    if (!isIPv6(host)) return fail(`${shown}: "${host}" is not an IPv6 address`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) return fail(`${shown} has no port`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) return fail(`${shown}: IPv6 addresses go in brackets, as [::1]:7978`);
    if (host === '' || host === '*') host = '0.0.0.0';
    else if (!isIPv4(host) && !(HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) return fail(`${shown}: "${host}" is not a host name or IP address`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    return fail(portText === '' ? `${shown} has no port` : `${shown}: "${portText}" is not a port`);
  }
  const port = Number(portText);
  return tls === undefined ? { host, port } : { host, port, tls };
}
