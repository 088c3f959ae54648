import { PollyError } from '../../core/errors.js';
import { CommandFailed, runCommand } from '../node/run-command.js';

/**
 * The `btrfs` command, one function per use. Paths are absolute (checked before they get here),
 * so no `--` is needed — and btrfs-progs 6.2's `quota enable` would not accept one.
 */

const opts = (signal?: AbortSignal) => (signal ? { signal } : {});

export async function createSubvolume(path: string, signal?: AbortSignal): Promise<void> {
  await runCommand('btrfs', ['subvolume', 'create', path], opts(signal));
}

/** A snapshot of `source` at `path`; read-only snapshots are made read-only atomically. */
export async function snapshotSubvolume(source: string, path: string, readOnly: boolean, signal?: AbortSignal): Promise<void> {
  await runCommand('btrfs', ['subvolume', 'snapshot', ...(readOnly ? ['-r'] : []), source, path], opts(signal));
}

/** Deletes a subvolume (and commits, so its space and qgroup can be released); returns its subvolume id. */
export async function deleteSubvolume(path: string, signal?: AbortSignal): Promise<number> {
  const id = await subvolumeId(path, signal);
  await runCommand('btrfs', ['subvolume', 'delete', '--commit-after', path], opts(signal));
  return id;
}

export async function subvolumeId(path: string, signal?: AbortSignal): Promise<number> {
  const { stdout } = await runCommand('btrfs', ['inspect-internal', 'rootid', path], opts(signal));
  const id = Number(stdout.trim());
  if (!Number.isSafeInteger(id) || id <= 0) throw new PollyError('BACKEND_ERROR', `btrfs inspect-internal rootid printed ${JSON.stringify(stdout.trim())} for ${path}`);
  return id;
}

/** Sets the subvolume's referenced-bytes limit (its size). */
export async function limitQgroup(path: string, bytes: number, signal?: AbortSignal): Promise<void> {
  await runCommand('btrfs', ['qgroup', 'limit', String(bytes), path], opts(signal));
}

/** Removes the qgroup of a deleted subvolume; the kernel may still hold it (then `clear-stale` later). */
export async function destroyQgroup(subvolId: number, fsPath: string): Promise<void> {
  await runCommand('btrfs', ['qgroup', 'destroy', `0/${subvolId}`, fsPath]).catch(() => undefined);
}

export async function clearStaleQgroups(fsPath: string): Promise<void> {
  await runCommand('btrfs', ['qgroup', 'clear-stale', fsPath]).catch(() => undefined);
}

export interface QgroupUsage {
  readonly referencedBytes: number;
  readonly exclusiveBytes: number;
  /** The referenced limit, undefined when none. */
  readonly limitBytes: number | undefined;
}

/** Usage of a subvolume's own qgroup (0/<id>), after a sync so that recent writes are counted. */
export async function qgroupUsage(path: string, signal?: AbortSignal): Promise<QgroupUsage> {
  const id = await subvolumeId(path, signal);
  await runCommand('btrfs', ['filesystem', 'sync', path], opts(signal));
  const { stdout } = await runCommand('btrfs', ['qgroup', 'show', '--raw', '-r', '-f', path], opts(signal));
  for (const line of stdout.split('\n')) {
    const m = /^0\/(\d+)\s+(\d+)\s+(\d+)\s+(\S+)/.exec(line.trim());
    if (!m || Number(m[1]) !== id) continue;
    return { referencedBytes: Number(m[2]), exclusiveBytes: Number(m[3]), limitBytes: m[4] === 'none' ? undefined : Number(m[4]) };
  }
  throw new PollyError('BACKEND_ERROR', `btrfs shows no qgroup 0/${id} for ${path}`, { path });
}

/** FAILED_PRECONDITION naming the fix when quotas are off on the filesystem holding `path`. */
export async function requireQuotas(path: string, field: string, signal?: AbortSignal): Promise<void> {
  try {
    await runCommand('btrfs', ['qgroup', 'show', '--raw', path], opts(signal));
  } catch (e) {
    if (e instanceof CommandFailed && /quota|not enabled|ENOTCONN|Transport endpoint/i.test(e.stderr)) {
      throw new PollyError('FAILED_PRECONDITION', `${field}: quotas are not enabled on the btrfs filesystem holding ${path}; run "btrfs quota enable <mount point>"`, { field, path }, { cause: e });
    }
    throw e;
  }
}
