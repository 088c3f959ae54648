import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { startEtcdCluster, type EtcdCluster } from '../src/store/etcd/testing/etcd-cluster.js';
import { startReplicas, uniquePrefix, waitForLeader } from '../test/support/etcd-replicas.js';
import { cleanup, startPollyServer, tempDir, type RunningServer } from '../test/support/server-process.js';
import { percentile, record } from './results.js';

/**
 * The HA store through real server processes over HTTP (dir driver, one shared pool):
 * - durable creates/s at 64 concurrent clients on SQLite (1 server) and on etcd with 1 and 3
 *   replicas (clients spread over the replicas), on a 1-member and a 3-member etcd cluster;
 * - leader failover: SIGKILL the leading replica, time until another one leads.
 */
const CONCURRENCY = 64;
const WARMUP = 300;
const MEASURED = 3000;
const FAILOVERS = 5;

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(port: number, path: string, body: unknown): Promise<number> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
}

let seq = 0;
/** `count` creates over `servers` (round robin) with CONCURRENCY in flight; creates/s and latencies. */
async function creates(servers: readonly RunningServer[], count: number): Promise<{ rate: number; lat: number[]; failed: number }> {
  const lat: number[] = [];
  let left = count;
  let failed = 0;
  const t0 = performance.now();
  const worker = async (w: number) => {
    while (left-- > 0) {
      const s = servers[(w + left) % servers.length]!;
      const t = performance.now();
      const status = await post(s.port, '/v1/volumes', { service: 'bench', name: `v${++seq}`, size: '1Mi' });
      lat.push(performance.now() - t);
      if (status !== 201) failed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const secs = (performance.now() - t0) / 1000;
  return { rate: count / secs, lat: lat.sort((a, b) => a - b), failed };
}

const services = (pool: string) => ({ bench: { driver: 'dir', pools: [{ name: 'p1', path: pool, capacity: '100Ti' }] } });

async function measure(label: string, servers: RunningServer[]): Promise<string> {
  await creates(servers, WARMUP);
  const { rate, lat, failed } = await creates(servers, MEASURED);
  return `${label}: ${Math.round(rate)} creates/s; latency p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms; failures ${failed}`;
}

const lines: string[] = [];
let etcd: EtcdCluster | undefined;
try {
  {
    const server = await startPollyServer({ config: { log: { level: 'warn' }, services: services(join(tempDir('bench-sqlite'), 'p1')) } });
    lines.push(await measure('SQLite, 1 server', [server]));
    await server.stop('SIGTERM');
  }
  for (const members of [1, 3] as const) {
    etcd = await startEtcdCluster({ members });
    for (const n of [1, 3]) {
      const prefix = uniquePrefix('bench');
      const pool = join(tempDir('bench-etcd'), 'p1');
      const replicas = await startReplicas({ endpoints: etcd.endpoints, replicas: n, services: services(pool), timeout: '5s', prefix });
      lines.push(await measure(`etcd (${members} member${members > 1 ? 's' : ''}), ${n} replica${n > 1 ? 's' : ''}`, replicas));
      if (members === 3 && n === 3) {
        const times: number[] = [];
        let live = replicas;
        for (let i = 0; i < FAILOVERS; i++) {
          const { leader } = await waitForLeader(live);
          live = live.filter((r) => r !== leader);
          const t0 = performance.now();
          await leader.stop('SIGKILL');
          await waitForLeader(live, 20_000);
          times.push(performance.now() - t0);
          // Keep three replicas: start a fresh one for the next round.
          live.push(...(await startReplicas({ endpoints: etcd.endpoints, replicas: 1, services: services(pool), prefix })));
        }
        times.sort((a, b) => a - b);
        lines.push(`leader failover (SIGKILL of the leader until another replica leads; lease TTL 2 s), ${FAILOVERS} runs: median ${(percentile(times, 50) / 1000).toFixed(2)} s, max ${(times[times.length - 1]! / 1000).toFixed(2)} s (target < 5 s)`);
        await Promise.all(live.map((r) => r.stop('SIGTERM')));
      }
      await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
    }
    await etcd.stop();
    etcd = undefined;
  }
  record(`Durable creates through the API, ${CONCURRENCY} concurrent clients, ${MEASURED} measured: SQLite vs etcd with 1 and 3 replicas; leader failover`, lines);
} finally {
  agent.destroy();
  await cleanup();
  await etcd?.stop();
}
