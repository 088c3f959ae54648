/**
 * A tiny HTTP test double of the Polly server for unit tests of the client and the CLI:
 * routes answer canned JSON and every request is recorded. Listens on 127.0.0.1, port 0.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
  /** Values of `:name` segments of the matched route. */
  params: Record<string, string>;
}

export interface FakeAnswer {
  status?: number;
  body?: unknown;
  /** Sent as-is instead of JSON. */
  raw?: string;
  headers?: Record<string, string>;
  /** Never answer (for timeout tests). */
  hang?: boolean;
}

export type FakeHandler = (req: RecordedRequest) => FakeAnswer | Promise<FakeAnswer>;

export interface FakeServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Routes are keyed `"METHOD /path/:param"`. Unknown routes answer 404 NOT_FOUND. */
export async function startFakeServer(routes: Record<string, FakeHandler>): Promise<FakeServer> {
  const table = Object.entries(routes).map(([key, handler]) => {
    const [method, pattern] = key.split(' ') as [string, string];
    return { method, segments: pattern.split('/'), handler };
  });
  const requests: RecordedRequest[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const text = Buffer.concat(chunks).toString('utf8');
        const segs = url.pathname.split('/');
        let params: Record<string, string> = {};
        const route = table.find((r) => {
          if (r.method !== req.method || r.segments.length !== segs.length) return false;
          const p: Record<string, string> = {};
          for (let i = 0; i < segs.length; i++) {
            const want = r.segments[i]!;
            if (want.startsWith(':')) p[want.slice(1)] = decodeURIComponent(segs[i]!);
            else if (want !== segs[i]) return false;
          }
          params = p;
          return true;
        });
        const recorded: RecordedRequest = {
          method: req.method ?? '',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: text === '' ? undefined : JSON.parse(text),
          params,
        };
        requests.push(recorded);
        const answer: FakeAnswer = route
          ? await route.handler(recorded)
          : { status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}`, details: {} } } };
        if (answer.hang) return;
        const payload = answer.raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
        res.writeHead(answer.status ?? 200, {
          'content-type': answer.raw !== undefined ? 'text/html' : 'application/json',
          ...answer.headers,
        });
        res.end(payload);
      })();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
