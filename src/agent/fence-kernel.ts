import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { detachLoop, listLoops } from '../drivers/node/loop-devices.js';
import { parseMountInfo, readMountTable, type MountEntry } from '../drivers/node/mount-table.js';
import { runCommand } from '../drivers/node/run-command.js';

/** What a fence did on this node. */
export interface FenceReport {
  /** Processes stopped (SIGKILL) because they held files on, or a mount of, a fenced volume. */
  readonly killed: readonly { readonly pid: number; readonly command: string }[];
  readonly unmounted: readonly string[];
  /** Loop devices detached (image volumes). */
  readonly detached: readonly string[];
  /** What could not be done (the fence carries on with the rest). */
  readonly failed: readonly string[];
}

const ROUNDS = 4;
const EXIT_WAIT_MS = 3_000;

const isUnder = (dir: string, p: string): boolean => p.startsWith(`${dir}/`);

/** The mounts under `mountDir` in this mount namespace, deepest first (the guard's own dir excluded). */
export async function mountsUnder(mountDir: string, except?: string): Promise<MountEntry[]> {
  return (await readMountTable())
    .filter((m) => isUnder(mountDir, m.mountPoint) && (except === undefined || (m.mountPoint !== except && !isUnder(except, m.mountPoint))))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

/**
 * Whether a mount (of any namespace) shows a fenced volume: the same filesystem, and a subtree of
 * what the fenced mount shows (a container's bind mount of it, or the loop device's filesystem).
 */
const showsVolume = (m: MountEntry, fenced: MountEntry): boolean =>
  m.device === fenced.device && (fenced.root === '/' || m.root === fenced.root || m.root.startsWith(`${fenced.root}/`));

function linkOf(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

const listDir = (path: string): string[] => {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
};

const readText = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

function commandOf(pid: number): string {
  return readText(`/proc/${pid}/cmdline`).split('\0').filter(Boolean).join(' ').slice(0, 200);
}

/**
 * Processes that keep a fenced volume in use: in another mount namespace (a container), one
 * whose namespace holds a mount of the volume; in ours, one with its root, working directory or
 * an open file under a fenced mount point. Never pid 1, never this process.
 */
function holders(fenced: readonly MountEntry[]): number[] {
  // Synchronous on purpose: thousands of /proc reads, and a fence has no other work meanwhile.
  const own = linkOf('/proc/self/ns/mnt');
  const points = fenced.map((m) => m.mountPoint);
  const onFenced = (p: string | undefined): boolean => p !== undefined && points.some((mp) => p === mp || isUnder(mp, p));
  const nsHolds = new Map<string, boolean>();
  const out: number[] = [];
  for (const name of listDir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === 1 || pid === process.pid) continue;
    const ns = linkOf(`/proc/${pid}/ns/mnt`);
    if (ns === undefined) continue;
    if (ns !== own) {
      let holds = nsHolds.get(ns);
      if (holds === undefined) {
        holds = parseMountInfo(readText(`/proc/${pid}/mountinfo`)).some((m) => fenced.some((f) => showsVolume(m, f)));
        nsHolds.set(ns, holds);
      }
      if (holds) out.push(pid);
      continue;
    }
    if (onFenced(linkOf(`/proc/${pid}/cwd`)) || onFenced(linkOf(`/proc/${pid}/root`))
      || listDir(`/proc/${pid}/fd`).some((fd) => onFenced(linkOf(`/proc/${pid}/fd/${fd}`)))) {
      out.push(pid);
    }
  }
  return out;
}

function gone(pid: number): boolean {
  const stat = readText(`/proc/${pid}/stat`);
  // A zombie has already left its namespaces and closed its files.
  return stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

/**
 * The node side of a fence, at the kernel level and for any driver: stops (SIGKILL) every
 * process that holds a volume mounted under `mountDir`, unmounts those mounts, and detaches the
 * loop devices they were on. Run when this node's lease is about to be given up (D82): after it,
 * nothing on this node can write to a volume the server gives to another node.
 */
export async function fenceMounts(mountDir: string, except?: string): Promise<FenceReport> {
  const killed: { pid: number; command: string }[] = [];
  const unmounted: string[] = [];
  const failed: string[] = [];
  const devices = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const fenced = await mountsUnder(mountDir, except);
    if (fenced.length === 0) break;
    for (const m of fenced) devices.add(m.device);
    const pids = holders(fenced);
    for (const pid of pids) {
      const command = commandOf(pid);
      try {
        process.kill(pid, 'SIGKILL');
        killed.push({ pid, command });
      } catch {
        // gone already
      }
    }
    for (let waited = 0; waited < EXIT_WAIT_MS; waited += 20) {
      if (pids.every(gone)) break;
      await sleep(20);
    }
    for (const m of fenced) {
      try {
        await runCommand('umount', ['--', m.mountPoint]);
        unmounted.push(m.mountPoint);
      } catch (e) {
        if (round === ROUNDS - 1) failed.push(`umount ${m.mountPoint}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  for (const m of await mountsUnder(mountDir, except)) {
    // Still busy after every round: at least take it out of the tree.
    await runCommand('umount', ['-l', '--', m.mountPoint]).catch(() => undefined);
    failed.push(`${m.mountPoint}: still busy, lazily unmounted`);
  }
  const detached: string[] = [];
  for (const loop of await listLoops()) {
    if (!devices.has(loop.majMin)) continue;
    try {
      await detachLoop(loop.device);
      detached.push(loop.device);
    } catch (e) {
      failed.push(`losetup -d ${loop.device}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { killed, unmounted, detached, failed };
}
