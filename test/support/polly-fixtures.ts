/** Small helpers shared by the end-to-end suites (on top of server-process.ts). */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { api, type ApiResponse, type RunningServer } from './server-process.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** The default pool of a server started without a config: service `default`, pool `local`. */
export const DEFAULT_POOL = { service: 'default', pool: 'local' } as const;

/** `<dataDir>/pools/<service>/<pool>`: where the dir driver keeps a pool by default. */
export const poolDir = (server: RunningServer | string, service: string, pool: string): string =>
  join(typeof server === 'string' ? server : server.dataDir, 'pools', service, pool);

/** Names in a directory (sorted); [] when it does not exist. */
export function listDir(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort();
}

/** The directory entries of a pool's volumes/ folder. */
export const volumeDirs = (server: RunningServer | string, service: string, pool: string): string[] =>
  listDir(join(poolDir(server, service, pool), 'volumes'));

/** Every entry under a pool, recursively, as relative paths (sorted). */
export function treeOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      out.push(e.isDirectory() ? `${r}/` : r);
      if (e.isDirectory()) walk(join(d, e.name), r);
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return out.sort();
}

export interface ErrorEnvelope {
  readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> };
}

/** Asserts the one error envelope of the admin API and returns it. */
export function assertEnvelope(res: ApiResponse, context = ''): ErrorEnvelope['error'] {
  const where = `${context} → ${res.status} ${res.text.slice(0, 300)}`;
  assert.ok(res.body !== null && typeof res.body === 'object', `error body is JSON: ${where}`);
  const err = (res.body as Partial<ErrorEnvelope>).error;
  assert.ok(err !== undefined && err !== null && typeof err === 'object', `error envelope present: ${where}`);
  assert.equal(typeof err.code, 'string', `error.code is a string: ${where}`);
  assert.ok(err.code.length > 0, `error.code not empty: ${where}`);
  assert.equal(typeof err.message, 'string', `error.message is a string: ${where}`);
  assert.ok(err.message.length > 0, `error.message not empty: ${where}`);
  assert.ok(err.details !== null && typeof err.details === 'object' && !Array.isArray(err.details), `error.details is an object: ${where}`);
  return err;
}

/** Every item of a paged list (GET … with `items` and `next`). */
export async function listAll<T = any>(server: RunningServer, path: string, headers: Record<string, string> = {}): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await api(server, 'GET', `${path}${cursor !== undefined ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, headers);
    assert.equal(res.status, 200, `GET ${path}: ${res.text}`);
    out.push(...(res.body.items as T[]));
    cursor = res.body.next;
    if (cursor === undefined) return out;
  }
  throw new Error(`GET ${path}: too many pages`);
}

/** The whole store as `key → value` (admin). */
export async function storeDump(server: RunningServer, headers: Record<string, string> = {}): Promise<Map<string, unknown>> {
  const items = await listAll<{ key: string; revision: number; value: unknown }>(server, '/v1/store?limit=10000', headers);
  return new Map(items.map((i) => [i.key, i.value]));
}

/** Counts of each status in a list of responses, e.g. `{ 201: 100, 507: 400 }`. */
export function statusCounts(responses: readonly { status: number }[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Distinct, valid volume names: `<prefix>-1`, `<prefix>-2`, … */
export function freshNames(prefix: string): { next(): string } {
  let n = 0;
  return { next: () => `${prefix}-${++n}` };
}

/**
 * One HTTP/1.1 request over a plain socket that returns the answer even when the server answers
 * (and closes) before it has read the whole body, as it does for a body over the limit: fetch and
 * node:http report only EPIPE/ECONNRESET then. Stops writing as soon as an answer arrives.
 */
export function rawRequest(
  url: string,
  method: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<{ status: number; text: string; body: any }> {
  const u = new URL(url);
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const head = [
    `${method} ${u.pathname}${u.search} HTTP/1.1`,
    `host: ${u.host}`,
    'content-type: application/json',
    `content-length: ${payload.length}`,
    'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      const raw = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      if (!m) {
        if (!err) return; // not yet
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
        return;
      }
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0 && !err) return;
      const headerText = split < 0 ? raw : raw.slice(0, split);
      const text = split < 0 ? '' : raw.slice(split + 4);
      const length = /\r\ncontent-length: *(\d+)/i.exec(headerText);
      if (!err && length && Buffer.byteLength(text) < Number(length[1])) return; // body still coming
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      resolve({ status: Number(m[1]), text, body: parsed });
    };
    const timer = setTimeout(() => finish(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      finish();
    });
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`${method} ${url}: connection closed without an answer`)));
    socket.on('connect', () => {
      socket.write(head);
      let offset = 0;
      const piece = 64 * 1024;
      const pump = () => {
        while (!settled && chunks.length === 0 && offset < payload.length) {
          const chunk = payload.subarray(offset, offset + piece);
          offset += piece;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      // Like a client sending "Expect: 100-continue": give the server a moment to turn the request
      // down from its headers alone (it does for a content-length over the limit) before sending
      // the body; a server that answers while we write resets the connection under our feet.
      setTimeout(pump, 150);
    });
  });
}
