/** Finding the front doors of a test server: their listeners log where they listen (port 0 → a free port). */
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
