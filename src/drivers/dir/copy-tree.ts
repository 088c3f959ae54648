import { constants, type BigIntStats, type Stats } from 'node:fs';
import { copyFile, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, type FileHandle } from 'node:fs/promises';
import type { ProgressListener } from '../../core/ports/storage-driver.js';
import { isVanished, SafeDir, withSafeDir } from './safe-dir.js';
import { scanTree } from './scan-tree.js';

/** Ownership, permission bits and times (microseconds since the epoch) of a file or directory. */
export interface FileAttrs {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeUs: number;
  readonly mtimeUs: number;
}

export interface CopyTreeOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  /** Bytes the copy will read, when the caller already scanned the source (else it is scanned). */
  readonly totalBytes?: number;
  /** chown copies to the source owners (needs root). */
  readonly preserveOwners: boolean;
  /** Attributes for the destination root instead of the source root's own. */
  readonly rootAttrs?: FileAttrs;
}

export interface CopyTreeResult {
  /** Attributes of the source root directory as found. */
  readonly rootAttrs: FileAttrs;
  readonly doneBytes: number;
  /** Sockets, FIFOs and device nodes, which are not copied. */
  readonly skippedSpecial: number;
}

const CHUNK = 1024 * 1024;
/** Granularity of hole detection: an all-zero block of this size is not written. */
const BLOCK = 4096;
const ZERO = Buffer.alloc(BLOCK);
const DIR_SYNC_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** Errors of a reflink attempt meaning "this filesystem cannot clone": copy the bytes instead. */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EBADF', 'EPERM']);

/** Attributes from a bigint stat, whose times are exact (a number stat's mtimeMs is not). */
export const attrsOf = (st: BigIntStats): FileAttrs => ({
  mode: Number(st.mode & 0o7777n),
  uid: Number(st.uid),
  gid: Number(st.gid),
  atimeUs: Number(st.atimeNs / 1000n),
  mtimeUs: Number(st.mtimeNs / 1000n),
});

/**
 * Seconds for utimes from microseconds. Node passes a double and libuv truncates it to whole
 * microseconds; adding half a microsecond makes that truncation land on exactly `us`, so times
 * survive copies of copies unchanged (to the microsecond).
 */
export const utimeSeconds = (us: number): number => Math.floor(us / 1e6) + ((us % 1e6) + 0.5) / 1e6;

/**
 * Copies the directory tree `src` to `dst` (which must not exist). Preserves permission bits,
 * owners (with preserveOwners), access/modification times, symlinks as symlinks (never followed),
 * hard links within the tree, and holes (all-zero blocks are skipped, the file is truncated to
 * its length). Files are cloned with a reflink when the filesystem supports it. Every file and
 * directory is fsynced so the copy is durable once this resolves.
 *
 * The source is read through SafeDir, so a workload changing the tree while it is copied can
 * never make this read outside it. Entries that vanish meanwhile are skipped.
 *
 * Progress: onProgress({doneBytes,totalBytes}) at the start, after every chunk or file, and a
 * final call with doneBytes === totalBytes. Aborting throws the signal's reason; the caller
 * removes the partial destination.
 */
export async function copyTree(src: string, dst: string, options: CopyTreeOptions): Promise<CopyTreeResult> {
  const totalBytes = options.totalBytes ?? (await scanTree(src, options.signal)).apparentBytes;
  return new TreeCopier(options, totalBytes).run(src, dst);
}

class TreeCopier {
  private doneBytes = 0;
  private skippedSpecial = 0;
  private reflink = true;
  /** dev:ino of multiply-linked source files → their first copy, to recreate hard links. */
  private readonly links = new Map<string, Buffer>();
  private readonly buffer = Buffer.allocUnsafe(CHUNK);

  constructor(
    private readonly options: CopyTreeOptions,
    private readonly totalBytes: number,
  ) {}

  async run(src: string, dst: string): Promise<CopyTreeResult> {
    this.options.signal?.throwIfAborted();
    this.report();
    return withSafeDir(src, async (root) => {
      const dstRoot = Buffer.from(dst);
      await mkdir(dstRoot, { mode: 0o700 });
      await this.copyDir(root, dstRoot);
      const rootAttrs = attrsOf(await root.bigStat());
      await this.finishDir(dstRoot, this.options.rootAttrs ?? rootAttrs);
      const total = Math.max(this.totalBytes, this.doneBytes);
      this.doneBytes = total;
      this.options.onProgress?.({ doneBytes: total, totalBytes: total });
      return { rootAttrs, doneBytes: total, skippedSpecial: this.skippedSpecial };
    });
  }

  private report(): void {
    this.options.onProgress?.({ doneBytes: this.doneBytes, totalBytes: Math.max(this.totalBytes, this.doneBytes) });
  }

  private async copyDir(dir: SafeDir, dst: Buffer): Promise<void> {
    for (const name of await dir.names()) {
      this.options.signal?.throwIfAborted();
      const target = Buffer.concat([dst, Buffer.from('/'), name]);
      let st: Stats;
      try {
        st = await dir.lstat(name);
      } catch (e) {
        if (isVanished(e)) continue;
        throw e;
      }
      try {
        if (st.isDirectory()) await this.copySubdir(dir, name, target);
        else if (st.isFile()) await this.copyFile(dir, name, target);
        else if (st.isSymbolicLink()) await this.copySymlink(dir, name, target);
        else this.skippedSpecial++;
      } catch (e) {
        if (isVanished(e)) continue;
        throw e;
      }
    }
  }

  private async copySubdir(parent: SafeDir, name: Buffer, dst: Buffer): Promise<void> {
    const dir = await parent.openDir(name);
    try {
      await mkdir(dst, { mode: 0o700 });
      await this.copyDir(dir, dst);
      await this.finishDir(dst, attrsOf(await dir.bigStat()));
    } finally {
      await dir.close();
    }
  }

  /** Applies attributes to a copied directory once its entries exist, and fsyncs it. */
  private async finishDir(dst: Buffer, attrs: FileAttrs): Promise<void> {
    const handle = await open(dst, DIR_SYNC_FLAGS);
    try {
      await this.applyAttrs(handle, attrs);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private async applyAttrs(handle: FileHandle, attrs: FileAttrs): Promise<void> {
    // chown first: it clears setuid/setgid bits, which chmod then restores.
    if (this.options.preserveOwners) await handle.chown(attrs.uid, attrs.gid);
    await handle.chmod(attrs.mode);
    await handle.utimes(utimeSeconds(attrs.atimeUs), utimeSeconds(attrs.mtimeUs));
  }

  private async copySymlink(dir: SafeDir, name: Buffer, dst: Buffer): Promise<void> {
    const st = await lstat(dir.child(name), { bigint: true });
    if (!st.isSymbolicLink()) throw Object.assign(new Error(`${dir.child(name).toString()} changed type during the copy`), { code: 'EAGAIN' });
    const target = await dir.readlink(name);
    await symlink(target, dst);
    const attrs = attrsOf(st);
    if (this.options.preserveOwners) await lchown(dst, attrs.uid, attrs.gid);
    await lutimes(dst, utimeSeconds(attrs.atimeUs), utimeSeconds(attrs.mtimeUs));
  }

  private async copyFile(dir: SafeDir, name: Buffer, dst: Buffer): Promise<void> {
    const { handle: source, stat } = await dir.openFile(name);
    try {
      const exact = await source.stat({ bigint: true });
      const key = `${stat.dev}:${stat.ino}`;
      const first = stat.nlink > 1 ? this.links.get(key) : undefined;
      if (first) {
        await link(first, dst);
        return;
      }
      const target = (await this.tryReflink(source, dst, stat)) ?? (await this.copyData(source, dst));
      try {
        await this.applyAttrs(target, attrsOf(exact));
        await target.datasync();
      } finally {
        await target.close();
      }
      if (stat.nlink > 1) this.links.set(key, dst);
    } finally {
      await source.close();
    }
  }

  /** Clones the file's extents (btrfs, XFS…); undefined when the filesystem cannot. */
  private async tryReflink(source: FileHandle, dst: Buffer, stat: Stats): Promise<FileHandle | undefined> {
    if (!this.reflink) return undefined;
    try {
      // The /proc path of the already-open source reopens exactly that file: no path lookup.
      await copyFile(`/proc/self/fd/${source.fd}`, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (!NO_REFLINK.has(code)) throw e;
      this.reflink = false;
      await rm(dst, { force: true });
      return undefined;
    }
    this.doneBytes += stat.size;
    this.report();
    return open(dst, constants.O_RDONLY | constants.O_NOFOLLOW);
  }

  /** Copies the bytes in chunks, leaving all-zero blocks as holes. */
  private async copyData(source: FileHandle, dst: Buffer): Promise<FileHandle> {
    const target = await open(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      let position = 0;
      for (;;) {
        this.options.signal?.throwIfAborted();
        const { bytesRead } = await source.read(this.buffer, 0, CHUNK, position);
        if (bytesRead === 0) break;
        await this.writeNonZero(target, bytesRead, position);
        position += bytesRead;
        this.doneBytes += bytesRead;
        this.report();
      }
      // Sets the length, which also keeps a trailing hole.
      await target.truncate(position);
      return target;
    } catch (e) {
      await target.close();
      throw e;
    }
  }

  /** Writes the runs of non-zero blocks of buffer[0, length) at their offsets. */
  private async writeNonZero(target: FileHandle, length: number, position: number): Promise<void> {
    let offset = 0;
    while (offset < length) {
      while (offset < length && this.isZeroBlock(offset, length)) offset += BLOCK;
      const start = offset;
      while (offset < length && !this.isZeroBlock(offset, length)) offset += BLOCK;
      const end = Math.min(offset, length);
      for (let at = start; at < end; ) {
        const { bytesWritten } = await target.write(this.buffer, at, end - at, position + at);
        at += bytesWritten;
      }
    }
  }

  private isZeroBlock(offset: number, length: number): boolean {
    const end = Math.min(offset + BLOCK, length);
    return this.buffer.subarray(offset, end).equals(ZERO.subarray(0, end - offset));
  }
}
