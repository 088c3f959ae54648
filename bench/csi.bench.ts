import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { csiClient, type Msg } from '../test/support/csi-client.js';
import { GrpcWireClient } from './grpc-wire-client.js';
import { mapLimit } from '../test/support/polly-fixtures.js';
import { startPollyServer } from '../test/support/server-process.js';
import { percentile, record } from './results.js';

/**
 * CSI over the real server's unix socket with the dir driver and durable commits (each
 * acknowledged create or delete is on disk): CreateVolume + DeleteVolume pairs at 16 concurrent
 * callers, as a CO's provisioner would issue them (target ≥ 1,600 pairs/s on 2 cores).
 *
 * The load generator runs on the same 2 cores as the server. It is run twice: with a lean gRPC
 * client (grpc-wire-client.ts), which leaves the cores to the server, and with grpc-js's client,
 * which costs about as much CPU per call as the whole server does.
 */
const CONCURRENCY = 16;
const WARMUP_PAIRS = 2_000;
const MEASURED_PAIRS = 8_000;
const CAP: Msg = { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

const server = await startPollyServer({
  config: {
    log: { level: 'warn' },
    services: { bench: { driver: 'dir', pools: [{ name: 'p1', capacity: '100Ti' }] } },
  },
});
const socket = join(server.dataDir, 'csi.sock');

type CallCreateDelete = { create: (req: Msg) => Promise<Msg>; delete: (req: Msg) => Promise<Msg>; close: () => void };

const clients: Record<string, () => CallCreateDelete> = {
  'lean gRPC client (node:http2)': () => {
    const c = new GrpcWireClient(socket);
    return { create: (r) => c.call('csi.v1.Controller', 'CreateVolume', r), delete: (r) => c.call('csi.v1.Controller', 'DeleteVolume', r), close: () => c.close() };
  },
  'grpc-js client': () => {
    const c = csiClient(`unix://${socket}`);
    return { create: (r) => c.controller.CreateVolume!(r), delete: (r) => c.controller.DeleteVolume!(r), close: () => c.close() };
  },
};

/** CPU time (user + system) the server process has used so far, in ms (Linux /proc). */
function serverCpuMs(): number {
  const fields = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
}

const loadAtStart = loadavg()[0]!;
const lines = [`machine load average (1 min) when the run began: ${loadAtStart.toFixed(1)} on ${cpus().length} cores (other work shares the machine)`];
let next = 0;
try {
  for (const [label, make] of Object.entries(clients)) {
    const client = make();
    const errors = new Map<string, number>();
    /** One CreateVolume + DeleteVolume pair; failures are counted by message. */
    const pair = async (i: number, latencies?: number[]): Promise<boolean> => {
      const t0 = performance.now();
      try {
        const { volume } = await client.create({ name: `pair-${i}`, volume_capabilities: [CAP], capacity_range: { required_bytes: 1 << 20 } });
        await client.delete({ volume_id: volume.volume_id });
        return true;
      } catch (e) {
        const key = (e as Error).message.slice(0, 160);
        errors.set(key, (errors.get(key) ?? 0) + 1);
        return false;
      } finally {
        latencies?.push(performance.now() - t0);
      }
    };
    const pairs = async (count: number, latencies?: number[]): Promise<number> => {
      const from = next;
      next += count;
      return (await mapLimit(Array.from({ length: count }, (_, k) => from + k), CONCURRENCY, (i) => pair(i, latencies))).filter((ok) => !ok).length;
    };
    await pairs(WARMUP_PAIRS);
    const lat: number[] = [];
    const cpu0 = serverCpuMs();
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    const failed = await pairs(MEASURED_PAIRS, lat);
    const secs = (performance.now() - t0) / 1000;
    const serverUs = ((serverCpuMs() - cpu0) * 1000) / MEASURED_PAIRS;
    const self = process.cpuUsage(self0);
    const clientUs = (self.user + self.system) / MEASURED_PAIRS;
    lat.sort((a, b) => a - b);
    client.close();
    lines.push(
      `${label}: CreateVolume + DeleteVolume pairs, ${CONCURRENCY} concurrent callers: ${MEASURED_PAIRS} in ${secs.toFixed(2)} s = ${Math.round(MEASURED_PAIRS / secs)} pairs/s (target ≥ 1,600/s); pair latency p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms; CPU per pair: server ${Math.round(serverUs)} µs, client ${Math.round(clientUs)} µs; failures ${failed}`,
      ...[...errors].map(([m, n]) => `failure ×${n}: ${m}`),
    );
  }
  const check = csiClient(`unix://${socket}`);
  const left = (await check.controller.ListVolumes!({})).entries.length;
  check.close();
  lines.push(`volumes left after both runs: ${left}`);
  record('CSI over a unix socket, dir driver, SQLite (durable commits)', lines);
} finally {
  await server.stop('SIGTERM');
}
