import { constants } from 'node:fs';
import { copyFile, rm, stat } from 'node:fs/promises';
import { PollyError } from '../../core/errors.js';
import type { ProgressListener } from '../../core/ports/storage-driver.js';
import { runCommand } from '../node/run-command.js';

export const REFLINK_MODES = ['auto', 'always', 'never'] as const;
export type ReflinkMode = (typeof REFLINK_MODES)[number];

/** Errors of a reflink attempt meaning "this filesystem cannot clone". */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EPERM']);

export interface CopyImageOptions {
  readonly reflink: ReflinkMode;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

/**
 * Copies an image file to a new file `dst`: a reflink (shared extents, O(1)) when the pool
 * filesystem can and the mode allows, otherwise a sparse copy with `cp --sparse=always`
 * (holes stay holes), whose progress is the destination's allocated bytes against the
 * source's. Returns whether it reflinked. `dst` is removed when the copy fails or is aborted.
 */
export async function copyImageFile(src: string, dst: string, options: CopyImageOptions): Promise<{ reflinked: boolean }> {
  const source = await stat(src);
  const total = source.blocks * 512;
  const report = (done: number) => options.onProgress?.({ doneBytes: Math.min(done, total), totalBytes: total });
  try {
    if (options.reflink !== 'never') {
      try {
        await copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
        report(total);
        return { reflinked: true };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (!NO_REFLINK.has(code)) throw e;
        await rm(dst, { force: true });
        if (options.reflink === 'always') {
          throw new PollyError('FAILED_PRECONDITION', `the pool filesystem cannot reflink (${code}) and the pool's reflink is "always"`, { errno: code });
        }
      }
    }
    options.signal?.throwIfAborted();
    report(0);
    const timer = setInterval(() => {
      stat(dst).then((s) => report(s.blocks * 512), () => undefined);
    }, 100);
    try {
      await runCommand('cp', ['--reflink=never', '--sparse=always', '--no-preserve=all', '--', src, dst], options.signal ? { signal: options.signal } : {});
    } finally {
      clearInterval(timer);
    }
    report(total);
    return { reflinked: false };
  } catch (e) {
    await rm(dst, { force: true });
    throw e;
  }
}
