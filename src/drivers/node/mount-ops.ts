import { mkdir, realpath, rmdir, unlink, writeFile } from 'node:fs/promises';
import { lstatIfExists } from '../common/lstat-if-exists.js';
import path from 'node:path';
import { checkHostPath } from '../../core/host-path.js';
import { invalid, PollyError } from '../../core/errors.js';
export { checkMountFlags } from '../../core/mount-flags.js';
import { fsLocation, isReadOnlyMount, mountAt, readMountTable, type MountEntry } from './mount-table.js';
import { runCommand } from './run-command.js';

/** What a mount point shows: a filesystem (device) and the path inside it that is mounted. */
export interface MountIdentity {
  readonly device: string;
  readonly root: string;
}

export type TargetKind = 'dir' | 'file';

const sameIdentity = (m: MountEntry, id: MountIdentity): boolean => m.device === id.device && m.root === id.root;

/** The driver-side check of a host path: the caller checked it already; drivers check again. */
export const checkNodePath = (field: string, value: unknown): string => checkHostPath(field, value);

/** The identity a bind mount of `source` would show (its real path located in its filesystem). */
export async function identityOf(source: string): Promise<MountIdentity> {
  const real = await realpath(source);
  const loc = fsLocation(await readMountTable(), real);
  if (!loc) throw new PollyError('BACKEND_ERROR', `no mount holds ${real}`, { path: real });
  return { device: loc.device, root: loc.fsPath };
}

/** The mount at `mountPoint` now, if any. */
export async function currentMount(mountPoint: string): Promise<MountEntry | undefined> {
  return mountAt(await readMountTable(), mountPoint);
}

/**
 * Makes `target` a mount point of the right kind: a directory (created with its parents when
 * missing) or a file (created empty, for block devices). A symbolic link is refused, never
 * followed; so is a target of the other kind.
 */
export async function prepareTarget(field: string, target: string, kind: TargetKind): Promise<void> {
  const st = await lstatIfExists(target);
  if (!st) {
    if (kind === 'dir') await mkdir(target, { recursive: true, mode: 0o750 });
    else {
      await mkdir(path.dirname(target), { recursive: true, mode: 0o750 });
      await writeFile(target, '', { flag: 'a', mode: 0o600 });
    }
    return;
  }
  if (st.isSymbolicLink()) throw invalid(field, `${target} is a symbolic link; refusing to mount over it`);
  if (kind === 'dir' && !st.isDirectory()) throw invalid(field, `${target} exists and is not a directory`);
  if (kind === 'file' && st.isDirectory()) throw invalid(field, `${target} is a directory; block volumes are published at a file`);
}

/** Removes a mount point made by prepareTarget once nothing is mounted there: an empty directory or an empty file. */
export async function removeTarget(target: string): Promise<void> {
  const st = await lstatIfExists(target);
  if (!st) return;
  try {
    if (st.isDirectory()) await rmdir(target);
    else if (st.isFile() && st.size === 0) await unlink(target);
  } catch (e) {
    // Something else was put there: it is not ours to delete.
    if (!['ENOTEMPTY', 'EEXIST', 'ENOENT', 'EBUSY'].includes(String((e as NodeJS.ErrnoException).code))) throw e;
  }
}

/**
 * Bind mounts `source` at `target` (read-only when asked), idempotently: when the same source
 * is already mounted there with the same read-only setting nothing happens; anything else
 * mounted there is a FAILED_PRECONDITION naming what is there.
 */
export async function bindMount(
  source: string,
  target: string,
  options: {
    readonly readOnly: boolean;
    readonly kind: TargetKind;
    readonly field: string;
    /** Per-mount options applied by a bind remount (nosuid, noexec, …). */
    readonly flags?: readonly string[];
    readonly signal?: AbortSignal | undefined;
  },
): Promise<void> {
  const identity = await identityOf(source);
  const existing = await currentMount(target);
  if (existing) {
    if (!sameIdentity(existing, identity)) {
      throw new PollyError('FAILED_PRECONDITION', `${options.field}: ${target} already has something else mounted (${existing.source} ${existing.root})`, {
        field: options.field,
        mounted: existing.source,
      });
    }
    if (isReadOnlyMount(existing) !== options.readOnly) {
      throw new PollyError(
        'ALREADY_EXISTS',
        `${options.field}: the volume is already mounted at ${target} ${isReadOnlyMount(existing) ? 'read-only' : 'read-write'}; unmount it first to change that`,
        { field: options.field },
      );
    }
    return;
  }
  await prepareTarget(options.field, target, options.kind);
  const signal = options.signal ? { signal: options.signal } : {};
  await runCommand('mount', ['--bind', '--', source, target], signal);
  const flags = options.flags ?? [];
  if (!options.readOnly && flags.length === 0) return;
  try {
    await runCommand('mount', ['-o', ['remount', 'bind', options.readOnly ? 'ro' : 'rw', ...flags].join(','), '--', target], signal);
  } catch (e) {
    // Never leave a writable (or otherwise wrong) mount where another was asked for.
    await runCommand('umount', ['--', target]).catch(() => undefined);
    throw e;
  }
}

/** Mounts a block device's filesystem at `target` (a directory, created when missing). */
export async function mountDevice(
  device: string,
  target: string,
  options: { readonly fsType: string; readonly flags: readonly string[]; readonly readOnly: boolean; readonly signal?: AbortSignal | undefined },
): Promise<void> {
  await prepareTarget('stagingPath', target, 'dir');
  // XFS refuses a second filesystem with the same UUID, which every snapshot and clone has.
  const flags = [...options.flags, options.readOnly ? 'ro' : 'rw', ...(options.fsType === 'xfs' && !options.flags.includes('nouuid') ? ['nouuid'] : [])];
  await runCommand('mount', ['-t', options.fsType, '-o', flags.join(','), '--', device, target], options.signal ? { signal: options.signal } : {});
}

/** Unmounts everything stacked at `target`; nothing mounted is not an error. */
export async function unmountAll(target: string, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < 16; i++) {
    if (!(await currentMount(target))) return;
    try {
      await runCommand('umount', ['--', target], signal ? { signal } : {});
    } catch (e) {
      if (!(await currentMount(target))) return; // someone else unmounted it meanwhile
      throw e;
    }
  }
  throw new PollyError('BACKEND_ERROR', `${target} stays mounted after 16 unmounts`, { path: target });
}
