/**
 * Real `polly agent` processes for the end-to-end suites (tracked like the servers: cleanup()
 * of server-process.ts SIGKILLs leftovers). Mounts the agents make are removed with
 * cleanupHostDir on the test's temp dirs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { api, bearer, childEnv, launchPolly, type ExitInfo, type Launched, type RunningServer } from './server-process.js';

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
