import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../core/ports/logger.js';
import { fenceMounts, mountsUnder } from './fence-kernel.js';
import { monotonicNow } from './monotonic-clock.js';

/** The guard's files live in `<mountDir>/.fence-guard/` (volume ids never start with a dot). */
export const GUARD_DIR = '.fence-guard';
const CHECK_MS = 100;

/** What the agent tells its guard after every acknowledged heartbeat (`lease.json`). */
export interface GuardLease {
  /**
   * When this node gives up its volumes unless a later heartbeat is acknowledged, in ms on
   * CLOCK_MONOTONIC (monotonicNow): the guard's input. A step of the wall clock does not move it.
   */
  readonly monotonicDeadlineMs: number;
  /**
   * The same moment in epoch ms as of writing: for people reading the file (and for a guard of
   * an earlier version, which reads only this); this guard only logs it.
   */
  readonly deadline: number;
}

/** The guard's files: its pid, the current agent's pid, the lease deadline, its log. */
export const guardPaths = (mountDir: string) => {
  const dir = join(mountDir, GUARD_DIR);
  return { dir, lease: join(dir, 'lease.json'), pid: join(dir, 'pid'), agent: join(dir, 'agent'), log: join(dir, 'log') };
};

/** The lease the agent last wrote; undefined when there is none or it is not a valid lease. */
export function readLease(file: string): GuardLease | undefined {
  try {
    const l = JSON.parse(readFileSync(file, 'utf8')) as Partial<GuardLease> | null;
    const valid = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
    return l !== null && typeof l === 'object' && valid(l.monotonicDeadlineMs) && valid(l.deadline)
      ? { monotonicDeadlineMs: l.monotonicDeadlineMs, deadline: l.deadline } : undefined;
  } catch {
    return undefined;
  }
}

/** A process's arguments (empty when it is gone). */
function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

const cmdline = (pid: number): string => argvOf(pid).join(' ');

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live fence guard of exactly `mountDir` (`… fence-guard-main.js <mountDir>`). */
export function isGuardOf(pid: number | undefined, mountDir: string): boolean {
  if (pid === undefined) return false;
  const argv = argvOf(pid);
  const main = argv.findIndex((a) => a === 'fence-guard-main.js' || a.endsWith('/fence-guard-main.js'));
  return main >= 0 && argv[main + 1] === mountDir;
}

/**
 * The agent's side of its fence guard (D82): makes sure a guard runs for its mount dir (one
 * outlives the agent, so a returning agent takes over the running one), and tells it the lease
 * deadline after every acknowledged heartbeat.
 */
export class FenceGuardLink {
  private readonly paths;

  constructor(private readonly mountDir: string, private readonly logger: Logger) {
    this.paths = guardPaths(mountDir);
  }

  /** Starts a guard unless one already guards this mount dir (then this agent becomes its agent). */
  start(): number {
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o750 });
    writeFileSync(this.paths.agent, `${process.pid}\n`);
    const running = readPid(this.paths.pid);
    if (isGuardOf(running, this.mountDir)) {
      this.logger.info({ guard: running }, 'fence guard already running; this agent takes it over');
      return running!;
    }
    const main = fileURLToPath(new URL('./fence-guard-main.js', import.meta.url));
    const log = openSync(this.paths.log, 'a', 0o640);
    try {
      // Its own session: a SIGKILL of the agent (or of its process group) leaves it running.
      const child = spawn(process.execPath, [main, this.mountDir], { detached: true, stdio: ['ignore', log, log] });
      child.unref();
      writeFileSync(this.paths.pid, `${child.pid}\n`);
      this.logger.info({ guard: child.pid, log: this.paths.log }, 'fence guard started');
      return child.pid!;
    } finally {
      closeSync(log);
    }
  }

  /**
   * Records the deadline (monotonic ms, see monotonicNow) atomically — the guard never reads half
   * a file — and starts a guard again if it is gone.
   */
  lease(monotonicDeadlineMs: number): void {
    const lease: GuardLease = { monotonicDeadlineMs, deadline: Date.now() + (monotonicDeadlineMs - monotonicNow()) };
    const tmp = `${this.paths.lease}.${process.pid}`;
    try {
      writeFileSync(tmp, JSON.stringify(lease));
      renameSync(tmp, this.paths.lease);
      if (!isGuardOf(readPid(this.paths.pid), this.mountDir)) this.start();
    } catch (err) {
      this.logger.error({ err }, 'cannot tell the fence guard the lease deadline');
    }
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return cmdline(pid).includes('polly');
  } catch {
    return false;
  }
}

/**
 * The fence guard process (D82): every 100 ms it reads the deadline its agent last wrote; once
 * the deadline has passed and volumes are still mounted under the mount dir, it fences them
 * (fenceMounts: unmount, stop what keeps a volume in use, detach loop devices) — whether the
 * agent is dead, hung or cut off. The deadline is the agent's self-fence time (lease + grace/2
 * after the last acknowledged heartbeat, on CLOCK_MONOTONIC), earlier than the server's fence
 * (lease + grace after the last renewal it saw), so the node lets go before the volume may
 * attach elsewhere. It exits when its mount dir is gone, when another guard took its place, or
 * when no agent is alive and nothing is left to guard.
 */
export async function runFenceGuard(mountDir: string, logger: Logger): Promise<void> {
  const paths = guardPaths(mountDir);
  writeFileSync(paths.pid, `${process.pid}\n`);
  logger.info({ mountDir, pid: process.pid }, 'fence guard watching');
  for (;;) {
    await new Promise((r) => setTimeout(r, CHECK_MS));
    if (!existsSync(mountDir)) return logger.info({ mountDir }, 'mount dir gone; fence guard exits');
    if (readPid(paths.pid) !== process.pid) return logger.info({}, 'another fence guard took over; exiting');
    const lease = readLease(paths.lease);
    const mounted = await mountsUnder(mountDir, paths.dir);
    if (lease !== undefined && monotonicNow() >= lease.monotonicDeadlineMs && mounted.length > 0) {
      const started = Date.now();
      logger.warn({ deadline: new Date(lease.deadline).toISOString(), overdueMs: monotonicNow() - lease.monotonicDeadlineMs, agentAlive: alive(readPid(paths.agent)), mounts: mounted.map((m) => m.mountPoint) }, 'lease deadline passed: fencing this node');
      const report = await fenceMounts(mountDir, paths.dir);
      logger.warn({ ...report, tookMs: Date.now() - started }, report.failed.length === 0 ? 'fenced: every volume of this node released' : 'fenced, with failures');
      continue;
    }
    if (mounted.length === 0 && !alive(readPid(paths.agent))) {
      return logger.info({}, 'no agent and nothing mounted; fence guard exits');
    }
  }
}
