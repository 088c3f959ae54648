import { constants, type BigIntStats, type Stats } from 'node:fs';
import { access, lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { PollyError } from '../../core/errors.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
// O_NONBLOCK: a FIFO swapped in for a file must not block the open; regular files ignore it.
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
/** Reading a tree to copy it should not change its access times (allowed for root or the owner). */
const O_NOATIME = (constants as Record<string, number | undefined>)['O_NOATIME'] ?? 0;

let procChecked: Promise<void> | undefined;

/** SafeDir needs Linux's /proc/self/fd; checked once per process. */
function requireProcFd(): Promise<void> {
  procChecked ??= access('/proc/self/fd').catch((cause: unknown) => {
    procChecked = undefined;
    throw new PollyError('UNSUPPORTED', 'the dir driver needs /proc/self/fd (Linux with /proc mounted)', {}, { cause });
  });
  return procChecked;
}

/**
 * A directory opened without following symlinks, whose children are reached through the open
 * descriptor (`/proc/self/fd/<fd>/<name>`) — the equivalent of openat(2).
 *
 * Volume contents are written by untrusted workloads that may swap a directory for a symlink
 * while Polly walks the tree. Path-based walks would follow such a symlink in an intermediate
 * component; anchoring every lookup to an already-open directory and opening each child with
 * O_NOFOLLOW means nothing outside the tree is ever read, listed or copied.
 *
 * Names are Buffers so that file names which are not valid UTF-8 survive untouched.
 */
export class SafeDir {
  private readonly prefix: Buffer;

  private constructor(
    private readonly handle: FileHandle,
    /** fstat of the open directory: authoritative, unlike an earlier lstat. */
    readonly stat: Stats,
  ) {
    this.prefix = Buffer.from(`/proc/self/fd/${handle.fd}/`);
  }

  /** Opens `path` as a directory; a symlink (or non-directory) in the last component is refused with ENOTDIR/ELOOP. */
  static async open(path: string | Buffer): Promise<SafeDir> {
    await requireProcFd();
    const handle = await open(path, DIR_FLAGS);
    try {
      return new SafeDir(handle, await handle.stat());
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Path of a child resolved through this directory's descriptor. Valid while this SafeDir is open. */
  child(name: Buffer): Buffer {
    return Buffer.concat([this.prefix, name]);
  }

  /** The directory's entries ('.' and '..' excluded). */
  async names(): Promise<Buffer[]> {
    return readdir(this.prefix, { encoding: 'buffer' });
  }

  lstat(name: Buffer): Promise<Stats> {
    return lstat(this.child(name));
  }

  openDir(name: Buffer): Promise<SafeDir> {
    return SafeDir.open(this.child(name));
  }

  /** Opens a regular file for reading; refuses symlinks and anything that is not a regular file. */
  async openFile(name: Buffer): Promise<{ handle: FileHandle; stat: Stats }> {
    let handle: FileHandle;
    try {
      handle = await open(this.child(name), FILE_FLAGS | O_NOATIME);
    } catch (e) {
      if (O_NOATIME === 0 || (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
      handle = await open(this.child(name), FILE_FLAGS); // not our file: atime may move
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw Object.assign(new Error(`${this.child(name).toString()} is not a regular file`), { code: 'EFTYPE' });
      return { handle, stat };
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  readlink(name: Buffer): Promise<Buffer> {
    return readlink(this.child(name), { encoding: 'buffer' });
  }

  /** fstat with exact (nanosecond) times. */
  bigStat(): Promise<BigIntStats> {
    return this.handle.stat({ bigint: true });
  }

  /** fchmod of the directory itself. */
  chmod(mode: number): Promise<void> {
    return this.handle.chmod(mode);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Opens a SafeDir, runs `fn`, and closes it whatever happens. */
export async function withSafeDir<T>(path: string | Buffer, fn: (dir: SafeDir) => Promise<T>): Promise<T> {
  const dir = await SafeDir.open(path);
  try {
    return await fn(dir);
  } finally {
    await dir.close();
  }
}

/** Error codes meaning "this entry vanished or changed type while we looked": skip it. */
export function isVanished(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
