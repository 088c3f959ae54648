import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { csiClient, type Msg } from '../test/support/csi-client.js';
import { mapLimit } from '../test/support/polly-fixtures.js';
import { startPollyServer } from '../test/support/server-process.js';
import { percentile, record } from './results.js';

/**
 * CSI over the real server's unix socket with the dir driver and durable (synchronous=FULL)
 * commits: CreateVolume + DeleteVolume pairs at 16 concurrent callers, as a CO's provisioner
 * would issue them (target ≥ 1,600 pairs/s on 2 cores).
 */
const CONCURRENCY = 16;
const WARMUP_PAIRS = 500;
const MEASURED_PAIRS = 8_000;
const CAP: Msg = { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

const server = await startPollyServer({
  config: {
    log: { level: 'warn' },
    services: { bench: { driver: 'dir', pools: [{ name: 'p1', capacity: '100Ti' }] } },
  },
});
const csi = csiClient(`unix://${join(server.dataDir, 'csi.sock')}`);

const errors = new Map<string, number>();

/** One CreateVolume + DeleteVolume pair; failures are counted by message. */
async function pair(i: number, latencies?: number[]): Promise<boolean> {
  const t0 = performance.now();
  try {
    const { volume } = await csi.controller.CreateVolume!({ name: `pair-${i}`, volume_capabilities: [CAP], capacity_range: { required_bytes: 1 << 20 } });
    await csi.controller.DeleteVolume!({ volume_id: volume.volume_id });
    return true;
  } catch (e) {
    const key = (e as Error).message.slice(0, 160);
    errors.set(key, (errors.get(key) ?? 0) + 1);
    return false;
  } finally {
    latencies?.push(performance.now() - t0);
  }
}

const pairs = async (from: number, to: number, latencies?: number[]): Promise<number> =>
  (await mapLimit(Array.from({ length: to - from }, (_, k) => from + k), CONCURRENCY, (i) => pair(i, latencies))).filter((ok) => !ok).length;

const loadAtStart = loadavg()[0]!;
try {
  await pairs(0, WARMUP_PAIRS);
  const lat: number[] = [];
  const t0 = performance.now();
  const failed = await pairs(WARMUP_PAIRS, WARMUP_PAIRS + MEASURED_PAIRS, lat);
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const left = (await csi.controller.ListVolumes!({})).entries.length;
  record('CSI over a unix socket, dir driver, SQLite (synchronous=FULL)', [
    `machine load average (1 min) when the run began: ${loadAtStart.toFixed(1)} on ${cpus().length} cores (other work shares the machine)`,
    `CreateVolume + DeleteVolume pairs, ${CONCURRENCY} concurrent callers: ${MEASURED_PAIRS} in ${secs.toFixed(2)} s = ${Math.round(MEASURED_PAIRS / secs)} pairs/s (target ≥ 1,600/s); pair latency p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms; failures ${failed}; volumes left ${left}`,
    ...[...errors].map(([m, n]) => `failure ×${n}: ${m}`),
  ]);
} finally {
  csi.close();
  await server.stop('SIGTERM');
}
