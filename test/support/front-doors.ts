/** Finding the front doors of a test server: their listeners log where they listen (port 0 → a free port). */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import type { RunningServer } from './server-process.js';

export interface LoggedAddress {
  readonly host?: string;
  readonly port?: number;
  readonly socket?: string;
}

/** The first log line with `msg` (pino JSON on stdout), waiting up to `timeoutMs` for it. */
export async function loggedAddress(server: RunningServer, msg: string, timeoutMs = 10_000): Promise<LoggedAddress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of server.stdout().split('\n')) {
      if (!line.includes(`"msg":"${msg}"`)) continue;
      const entry = JSON.parse(line) as LoggedAddress;
      return { ...(entry.host !== undefined ? { host: entry.host } : {}), ...(entry.port !== undefined ? { port: entry.port } : {}), ...(entry.socket !== undefined ? { socket: entry.socket } : {}) };
    }
    if (Date.now() > deadline) throw new Error(`no "${msg}" in the server log:\n${server.stdout().slice(-4000)}\n${server.stderr().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** http://127.0.0.1:<port> of the libStorage listener. */
export async function libstorageUrl(server: RunningServer): Promise<string> {
  const a = await loggedAddress(server, 'libstorage listening');
  return `http://127.0.0.1:${a.port}`;
}

/** One POST of the Docker plugin protocol over a unix socket; the answer parsed as JSON. */
export function pluginPost(socketPath: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; contentType: string; body: any; text: string }> {
  return unixRequest(socketPath, 'POST', path, raw ?? (body === undefined ? '' : JSON.stringify(body)), 'application/vnd.docker.plugins.v1.2+json');
}

/** One HTTP request over a unix socket; the answer parsed as JSON when it is JSON. */
export function unixRequest(socketPath: string, method: string, path: string, payload: string, contentType = 'application/json'): Promise<{ status: number; contentType: string; body: any; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: parsed, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Mount points (from /proc/self/mountinfo) at or under `dir`. */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescape(l.split(' ')[4]!))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}
