/** Where the client finds the Polly server: the 2016 `tcp://host:port` form and plain URLs. */

export const DEFAULT_PORT = 7978;
export const DEFAULT_BASE_URL = `http://127.0.0.1:${DEFAULT_PORT}`;

/** A --host / POLLY_HOST value the client cannot use. */
export class InvalidHostError extends Error {
  constructor(readonly host: string, reason: string) {
    super(`invalid Polly host ${JSON.stringify(host)}: ${reason}`);
    this.name = 'InvalidHostError';
  }
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;

/**
 * Turns a host setting into the base URL of the REST API.
 *
 * - nothing → `http://127.0.0.1:7978`
 * - `tcp://h:p` (2016 config form) → `http://h:p`; `tcp://:p` → `http://127.0.0.1:p`
 * - `http://…` / `https://…` → kept (a path prefix is kept too, trailing slashes dropped)
 * - `h:p`, `h`, `:p`, `[::1]:p` → `http://…`, port 7978 when missing
 *
 * Any other scheme (unix://, ftp://, …) is rejected with an InvalidHostError.
 */
export function resolveBaseUrl(host?: string): string {
  const raw = (host ?? '').trim();
  if (raw === '') return DEFAULT_BASE_URL;
  const m = SCHEME.exec(raw);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    const rest = m[2]!;
    if (scheme === 'tcp') return hostPort(raw, rest);
    if (scheme === 'http' || scheme === 'https') return fromUrl(raw, `${scheme}://${rest}`);
    if (scheme === 'unix') {
      throw new InvalidHostError(raw, 'unix sockets are not supported by the polly client; use tcp://host:port or http(s)://host:port');
    }
    throw new InvalidHostError(raw, `unsupported scheme "${scheme}://"; use tcp://host:port, http://host:port, https://host:port or host:port`);
  }
  return hostPort(raw, raw);
}

/** `host:port` with optional host and port, no path. */
function hostPort(raw: string, text: string): string {
  const rest = text.replace(/\/+$/, '');
  if (rest.includes('/')) throw new InvalidHostError(raw, 'a tcp:// or host:port address takes no path; use http://host:port/path for a path prefix');
  let hostname: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (v6) {
    hostname = `[${v6[1]}]`;
    port = v6[2];
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw new InvalidHostError(raw, 'write an IPv6 address in brackets, e.g. [::1]:7978');
    hostname = parts[0]!;
    port = parts[1];
  }
  if (hostname === '' || hostname === '[]') hostname = '127.0.0.1';
  const p = port === undefined || port === '' ? DEFAULT_PORT : /^\d+$/.test(port) ? Number(port) : NaN;
  if (!(p >= 1 && p <= 65535)) throw new InvalidHostError(raw, `port ${JSON.stringify(port)} is not a number between 1 and 65535`);
  return fromUrl(raw, `http://${hostname}:${p}`);
}

function fromUrl(raw: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidHostError(raw, 'not a valid address');
  }
  if (url.hostname === '') throw new InvalidHostError(raw, 'no host name');
  if (url.search || url.hash) throw new InvalidHostError(raw, 'no query string or fragment allowed');
  if (url.username || url.password) throw new InvalidHostError(raw, 'put credentials in --token / POLLY_TOKEN, not in the address');
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}`;
}
