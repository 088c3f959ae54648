/**
 * Real etcd processes for tests and benchmarks (Debian's `etcd-server`): one or three members on
 * free loopback ports with temp data dirs. Every process and dir made here is removed by
 * `stop()`; a process 'exit' hook SIGKILLs leftovers as a last resort.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const READY_TIMEOUT_MS = 20_000;
const live = new Set<ChildProcess>();
const dirs = new Set<string>();

process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  /** Plain-HTTP /health (and /metrics) of the member. */
  readonly healthUrl: string;
  /** Starts the member (again), keeping its data dir; resolves when it answers /health. */
  start(): Promise<void>;
  /** Stops it (SIGTERM, or SIGKILL) and waits for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  running(): boolean;
  output(): string;
}

export interface EtcdCluster {
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  /** Stops every member and removes the data dirs. */
  stop(): Promise<void>;
}

export interface EtcdClusterOptions {
  readonly members?: 1 | 3;
  /** Passed as --max-txn-ops (default 1024). */
  readonly maxTxnOps?: number;
  /** Serve clients over https with these PEM files, requiring client certificates signed by `ca`. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** Throws a clear error when the etcd binary is missing. */
export function assertEtcdInstalled(): void {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error('etcd is not installed: the etcd tests need Debian\'s etcd-server package (apt-get install etcd-server)');
}

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  assertEtcdInstalled();
  const n = options.members ?? 1;
  const root = mkdtempSync(join(tmpdir(), 'polly-etcd-'));
  dirs.add(root);
  const token = `polly-test-${process.pid}-${Date.now().toString(36)}`;
  const specs: { name: string; client: number; peer: number; metrics: number }[] = [];
  for (let i = 0; i < n; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort(), metrics: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');

  const members: EtcdMember[] = specs.map((s) => {
    let child: ChildProcess | undefined;
    let out = '';
    const clientUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${s.client}`;
    const args = [
      '--name', s.name, '--data-dir', join(root, s.name),
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', `http://127.0.0.1:${s.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${s.peer}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--max-txn-ops', String(options.maxTxnOps ?? 1024),
      // /health over plain HTTP whatever the client URLs need.
      '--listen-metrics-urls', `http://127.0.0.1:${s.metrics}`,
      '--heartbeat-interval', '100', '--election-timeout', '1000',
      '--logger', 'zap', '--log-level', 'error',
      ...(options.tls ? ['--cert-file', options.tls.cert, '--key-file', options.tls.key, '--trusted-ca-file', options.tls.ca, '--client-cert-auth'] : []),
    ];
    const member: EtcdMember = {
      name: s.name,
      clientUrl,
      healthUrl: `http://127.0.0.1:${s.metrics}/health`,
      running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      output: () => out,
      async start() {
        if (member.running()) return;
        const c = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        child = c;
        live.add(c);
        const keep = (b: Buffer) => { out = (out + b.toString()).slice(-20_000); };
        c.stdout!.on('data', keep);
        c.stderr!.on('data', keep);
        c.once('exit', () => live.delete(c));
      },
      async stop(signal = 'SIGTERM') {
        const c = child;
        if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill(signal);
        const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      },
    };
    return member;
  });

  const stop = async () => {
    await Promise.all(members.map((m) => m.stop('SIGKILL')));
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
  };
  try {
    // Members of a new cluster wait for each other, so start them all before waiting.
    for (const m of members) await m.start();
    for (const m of members) await waitHealthy(m);
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoints: members.map((m) => m.clientUrl), members, stop };
}

/** Resolves when the member reports itself healthy (it has a leader). */
export async function waitHealthy(member: EtcdMember, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!member.running()) throw new Error(`etcd member ${member.name} exited:\n${member.output()}`);
    try {
      const res = await fetch(member.healthUrl, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`etcd member ${member.name} not healthy after ${timeoutMs} ms:\n${member.output()}`);
}
