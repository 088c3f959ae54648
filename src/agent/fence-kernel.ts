import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { detachLoop, listLoops } from '../drivers/node/loop-devices.js';
import { masterGroup, parseMountInfo, readMountTable, sharedGroup, type MountEntry } from '../drivers/node/mount-table.js';
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

/**
 * Whether a mount of another namespace is a propagated copy of a fenced mount: a slave of its
 * peer group (`master:N`: a systemd service with PrivateTmp/ProtectSystem, a pod with
 * HostToContainer propagation) or a peer in it (`shared:N`). An unmount of the fenced mount
 * removes such a copy, unless the copy is in use.
 */
function propagatedCopy(m: MountEntry, fenced: MountEntry): boolean {
  const group = sharedGroup(fenced);
  return group !== undefined && (masterGroup(m) === group || sharedGroup(m) === group);
}

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

/** What another mount namespace holds of the fenced volumes. */
interface NsHold {
  /** It has a mount of a fenced volume of its own (a container's private bind copy): every process in it holds the volume. */
  readonly whole: boolean;
  /** Its propagated copies of fenced mounts (mount ids and points): only the processes using them hold the volume. */
  readonly copies: readonly MountEntry[];
}

function nsHold(pid: number, fenced: readonly MountEntry[]): NsHold {
  let whole = false;
  const copies: MountEntry[] = [];
  for (const m of parseMountInfo(readText(`/proc/${pid}/mountinfo`))) {
    const shown = fenced.filter((f) => showsVolume(m, f));
    if (shown.length === 0) continue;
    if (shown.every((f) => propagatedCopy(m, f))) copies.push(m);
    else whole = true;
  }
  return { whole, copies };
}

/** Whether a process has its root, working directory or an open file on one of `copies` (mounts of its namespace). */
function usesCopy(pid: number, copies: readonly MountEntry[]): boolean {
  const ids = new Set(copies.map((m) => String(m.id)));
  const under = (p: string | undefined): boolean => p !== undefined && copies.some((m) => p === m.mountPoint || isUnder(m.mountPoint, p));
  if (under(linkOf(`/proc/${pid}/cwd`)) || under(linkOf(`/proc/${pid}/root`))) return true;
  return listDir(`/proc/${pid}/fdinfo`).some((fd) => ids.has(/^mnt_id:\s*(\d+)/m.exec(readText(`/proc/${pid}/fdinfo/${fd}`))?.[1] ?? ''));
}

/**
 * Processes that keep a fenced volume in use. In our mount namespace: one with its root,
 * working directory or an open file under a fenced mount point still mounted. In another: every
 * process of a namespace with a mount of its own of a fenced volume (a container's private bind
 * copy, which no unmount of ours removes); where the namespace only has a propagated copy of a
 * fenced mount, only a process using that copy. Never pid 1, never this process.
 */
function holders(fenced: readonly MountEntry[], stillMounted: readonly MountEntry[]): number[] {
  // Synchronous on purpose: thousands of /proc reads, and a fence has no other work meanwhile.
  const own = linkOf('/proc/self/ns/mnt');
  const points = stillMounted.map((m) => m.mountPoint);
  const onFenced = (p: string | undefined): boolean => p !== undefined && points.some((mp) => p === mp || isUnder(mp, p));
  const holds = new Map<string, NsHold>();
  const out: number[] = [];
  for (const name of listDir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === 1 || pid === process.pid) continue;
    const ns = linkOf(`/proc/${pid}/ns/mnt`);
    if (ns === undefined) continue;
    if (ns !== own) {
      let hold = holds.get(ns);
      if (hold === undefined) {
        hold = nsHold(pid, fenced);
        holds.set(ns, hold);
      }
      if (hold.whole || (hold.copies.length > 0 && usesCopy(pid, hold.copies))) out.push(pid);
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

/** Unmounts each of `mounts` (deepest first) that is not busy; returns those it unmounted. */
async function unmountIdle(mounts: readonly MountEntry[], failed?: string[]): Promise<string[]> {
  const done: string[] = [];
  for (const m of mounts) {
    try {
      await runCommand('umount', ['--', m.mountPoint]);
      done.push(m.mountPoint);
    } catch (e) {
      failed?.push(`umount ${m.mountPoint}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return done;
}

/**
 * The node side of a fence, at the kernel level and for any driver: releases every volume
 * mounted under `mountDir` and stops (SIGKILL) the processes that keep one in use. Run when this
 * node's lease is about to be given up (D82): after it, nothing on this node can write to a
 * volume the server gives to another node.
 *
 * The mounts are taken first and each is unmounted at once if nothing uses it (which also
 * removes its propagated copies in other namespaces); then, in rounds, the holders of what is
 * left are stopped (see `holders`) and the rest unmounted. Last, the loop devices of fenced
 * whole-filesystem mounts (image volumes) are detached — never the device of a filesystem a
 * bind mount only shows a directory of (a dir pool's own filesystem).
 */
export async function fenceMounts(mountDir: string, except?: string): Promise<FenceReport> {
  const killed: { pid: number; command: string }[] = [];
  const failed: string[] = [];
  const fenced = await mountsUnder(mountDir, except);
  const unmounted = await unmountIdle(fenced);
  for (let round = 0; round < ROUNDS; round++) {
    // Mounts that appeared meanwhile are fenced too.
    const now = await mountsUnder(mountDir, except);
    for (const m of now) if (!fenced.some((f) => f.id === m.id)) fenced.push(m);
    const pids = holders(fenced, now);
    if (pids.length === 0 && now.length === 0) break;
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
    unmounted.push(...await unmountIdle(now, round === ROUNDS - 1 ? failed : undefined));
  }
  for (const m of await mountsUnder(mountDir, except)) {
    // Still busy after every round: at least take it out of the tree.
    await runCommand('umount', ['-l', '--', m.mountPoint]).catch(() => undefined);
    failed.push(`${m.mountPoint}: still busy, lazily unmounted`);
  }
  const devices = new Set(fenced.filter((m) => m.root === '/').map((m) => m.device));
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
