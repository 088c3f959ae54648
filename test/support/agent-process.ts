/**
 * Real `polly agent` processes for the end-to-end suites (tracked like the servers: cleanup()
 * of server-process.ts SIGKILLs leftovers). Mounts the agents make are removed with
 * cleanupHostDir on the test's temp dirs.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cleanupHostDir } from '../../src/drivers/node/testing/host-cleanup.js';
import { api, bearer, childEnv, launchPolly, startPollyServer, type ExitInfo, type Launched, type RunningServer } from './server-process.js';

export interface AgentProcess {
  readonly nodeId: string;
  readonly mountDir: string;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  stderr(): string;
  stdout(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface AgentStart {
  readonly nodeId: string;
  readonly mountDir: string;
  readonly labels?: Record<string, string>;
  readonly token?: string;
  /** Written as the agent's YAML config file (in `configDir`) and passed with --config. */
  readonly config?: Record<string, unknown>;
  readonly configDir?: string;
  /** A command that execs the agent (e.g. `nsenter -t <pid> -m --`: the agent of a node in its own mount namespace). */
  readonly wrap?: readonly string[];
}

export function startAgent(server: RunningServer | string, opts: AgentStart): AgentProcess {
  const url = typeof server === 'string' ? server : server.url;
  const args = ['agent', '--server', url, '--node-id', opts.nodeId, '--mount-dir', opts.mountDir, '-l', 'debug'];
  for (const [k, v] of Object.entries(opts.labels ?? {})) args.push('--label', `${k}=${v}`);
  if (opts.config !== undefined) {
    const file = join(opts.configDir ?? opts.mountDir, `agent-${opts.nodeId}.yml`);
    writeFileSync(file, stringify(opts.config));
    args.push('--config', file);
  }
  const launched: Launched = launchPolly(args, childEnv(opts.token !== undefined ? { POLLY_NODE_TOKEN: opts.token } : {}), undefined, opts.wrap ?? []);
  return {
    nodeId: opts.nodeId,
    mountDir: opts.mountDir,
    pid: launched.child.pid ?? -1,
    exited: launched.exited,
    stderr: launched.stderr,
    stdout: launched.stdout,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (launched.child.exitCode === null && launched.child.signalCode === null) launched.child.kill(signal);
      await launched.exited;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The node record of `nodeId` once it is connected and ready. */
export function nodeReady(server: RunningServer | string, nodeId: string, token?: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  return waitFor(`node ${nodeId} ready`, async () => {
    const r = await api(server, 'GET', `/v1/nodes/${nodeId}`, undefined, bearer(token));
    return r.status === 200 && r.body.state === 'ready' && r.body.connected ? (r.body as Record<string, any>) : undefined;
  }, timeoutMs);
}

/**
 * Watches a volume's attachments every 20 ms until stopped; `stop()` answers the most holders
 * seen at once (the failover checks: never two).
 */
export function watchHolders(server: RunningServer | string, volumeId: string, token?: string): { stop(): Promise<number> } {
  let watching = true;
  let most = 0;
  const loop = (async () => {
    while (watching) {
      const v = await api(server, 'GET', `/v1/volumes/${volumeId}`, undefined, bearer(token));
      most = Math.max(most, (v.body.attachments as unknown[]).length);
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      return most;
    },
  };
}

/**
 * A server for agent suites: node id `srv`, one admin token, and the given `nodes`, `services` and
 * other sections; its data dir is `<root>/data`.
 */
export async function startNodesServer(root: string, adminToken: string, config: Record<string, unknown>): Promise<RunningServer> {
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  return startPollyServer({
    dataDir,
    config: { server: { nodeId: 'srv' }, auth: { tokens: [{ name: 'admin', token: adminToken, role: 'admin' }] }, ...config },
  });
}

/** Whether a process exists and is not a zombie. */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/ Z /.test(stat.slice(stat.lastIndexOf(')')));
  } catch {
    return false;
  }
}

/** The fence guard of an agent's mount dir (D82): its pid and log, from `<mountDir>/.fence-guard/`. */
export function fenceGuardOf(mountDir: string): { pid(): number | undefined; running(): boolean; log(): string; kill(): void } {
  const read = (name: string): string => {
    try {
      return readFileSync(join(mountDir, '.fence-guard', name), 'utf8');
    } catch {
      return '';
    }
  };
  const pid = (): number | undefined => {
    const n = Number(read('pid').trim());
    return Number.isSafeInteger(n) && n > 1 ? n : undefined;
  };
  const running = (): boolean => {
    const p = pid();
    if (p === undefined || !processRunning(p)) return false;
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('fence-guard');
    } catch {
      return false;
    }
  };
  return {
    pid, running, log: () => read('log'),
    kill: () => {
      if (running()) process.kill(pid()!, 'SIGKILL');
    },
  };
}

/** A server and its agents under one temp root, as the agent suites build them. */
export interface Cluster {
  server: RunningServer;
  root: string;
  config: Record<string, unknown>;
  agents: AgentProcess[];
}

/**
 * Clusters a suite made, torn down after each test: agents (woken first, should a test have
 * frozen one) and server killed, then every mount and loop device under the root released.
 */
export function clusterRegistry(): { readonly add: (c: Cluster) => Cluster; readonly teardown: () => Promise<void> } {
  const clusters: Cluster[] = [];
  return {
    add: (c) => {
      clusters.push(c);
      return c;
    },
    teardown: async () => {
      for (const c of clusters.splice(0)) {
        for (const a of c.agents) {
          try {
            process.kill(a.pid, 'SIGCONT');
          } catch {
            // gone already
          }
          await a.kill('SIGKILL');
        }
        await c.server.stop('SIGKILL');
        await cleanupHostDir(c.root);
      }
    },
  };
}
