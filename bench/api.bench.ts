import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { startPollyServer } from '../test/support/server-process.js';
import { percentile, record } from './results.js';

/**
 * Through the real server process over HTTP with the dir driver:
 * - durable creates at 64 concurrent clients (target ≥ 2,000/s);
 * - listing 100,000 volumes with cursor paging (target < 1 s) and server RSS (target < 300 MB).
 */
const CONCURRENCY = 64;
const MEASURED_CREATES = 20_000;
const TOTAL_VOLUMES = 100_000;

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function call(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function createMany(port: number, from: number, to: number, latencies?: number[]): Promise<number> {
  let next = from;
  let failed = 0;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const t0 = performance.now();
      const r = await call(port, 'POST', '/v1/volumes', { service: 'bench', name: `v${i}`, size: '1Mi' });
      latencies?.push(performance.now() - t0);
      if (r.status !== 201) failed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return failed;
}

const rssMiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

const server = await startPollyServer({
  config: {
    log: { level: 'warn' },
    services: { bench: { driver: 'dir', pools: [{ name: 'p1', capacity: '100Ti' }] } },
  },
});
try {
  const lat: number[] = [];
  await createMany(server.port, 0, 1000); // warm-up
  const t0 = performance.now();
  const failed = await createMany(server.port, 1000, 1000 + MEASURED_CREATES, lat);
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const rate = MEASURED_CREATES / secs;

  const failedRest = await createMany(server.port, 1000 + MEASURED_CREATES, TOTAL_VOLUMES);
  const listings: string[] = [];
  for (const pageSize of [1000, 5000]) {
    const l0 = performance.now();
    let cursor: string | undefined;
    let count = 0;
    let pages = 0;
    do {
      const r = await call(server.port, 'GET', `/v1/volumes?limit=${pageSize}${cursor ? `&cursor=${cursor}` : ''}`);
      const body = JSON.parse(r.text) as { items: unknown[]; next?: string };
      count += body.items.length;
      pages++;
      cursor = body.next;
    } while (cursor);
    listings.push(`list ${count} volumes, ${pages} pages of ${pageSize}: ${((performance.now() - l0) / 1000).toFixed(3)} s end to end (target < 1 s)`);
  }
  record('Admin API over HTTP, dir driver, SQLite (durable commits)', [
    `durable creates, ${CONCURRENCY} concurrent clients: ${MEASURED_CREATES} in ${secs.toFixed(2)} s = ${Math.round(rate)} creates/s (target ≥ 2,000/s); latency p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms; failures ${failed + failedRest}`,
    ...listings,
    `server RSS with ${TOTAL_VOLUMES} volumes after listing: ${rssMiB(server.pid).toFixed(0)} MiB (target < 300 MB)`,
  ]);
} finally {
  agent.destroy();
  await server.stop('SIGTERM');
}
