import { invalid, PollyError } from '../../core/errors.js';
import { runCommand, CommandFailed } from './run-command.js';

/** Filesystems Polly makes and grows on block volumes. */
export const FILESYSTEMS = ['ext4', 'xfs'] as const;
export type Filesystem = (typeof FILESYSTEMS)[number];

/** What to do with a filesystem that was not cleanly unmounted, before mounting it. */
export const FSCK_POLICIES = ['preen', 'repair', 'off'] as const;
export type FsckPolicy = (typeof FSCK_POLICIES)[number];

/** Smallest volume each filesystem can be made on (mkfs.xfs refuses less than 300 MiB). */
export const MIN_FS_BYTES: Readonly<Record<Filesystem, number>> = { ext4: 1024 * 1024, xfs: 300 * 1024 * 1024 };

export function checkFilesystem(field: string, value: unknown): Filesystem {
  if (typeof value === 'string' && (FILESYSTEMS as readonly string[]).includes(value)) return value as Filesystem;
  throw invalid(field, `${JSON.stringify(value)} is not a supported filesystem; accepted: ${FILESYSTEMS.join(', ')}`);
}

const mapNoSpace = (e: unknown, what: string): unknown => {
  if (e instanceof CommandFailed && /no space left|ENOSPC/i.test(e.stderr)) {
    return new PollyError('INSUFFICIENT_CAPACITY', `${what}: no space left in the pool filesystem`, { ...e.details }, { cause: e });
  }
  return e;
};

/** Makes a filesystem on a file or device (no discard: the image is sparse already). */
export async function makeFilesystem(fs: Filesystem, target: string, signal?: AbortSignal): Promise<void> {
  const args = fs === 'ext4' ? ['-q', '-F', '-m', '0', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', '--', target] : ['-q', '-f', '-K', '--', target];
  try {
    await runCommand(fs === 'ext4' ? 'mkfs.ext4' : 'mkfs.xfs', args, signal ? { signal } : {});
  } catch (e) {
    throw mapNoSpace(e, `mkfs.${fs}`);
  }
}

/**
 * Checks a filesystem before it is mounted. ext4: `preen` fixes what e2fsck fixes safely and
 * fails on anything else; `repair` answers yes to every fix (may lose data, never refuses);
 * `off` mounts as is. XFS replays its log at mount and has no preen mode: `repair` runs
 * xfs_repair, the others mount as is.
 */
export async function checkFilesystemBeforeMount(fs: Filesystem, device: string, policy: FsckPolicy, signal?: AbortSignal): Promise<void> {
  if (policy === 'off') return;
  const opts = signal ? { signal } : {};
  if (fs === 'ext4') {
    try {
      // Exit 1 = errors corrected; 2 = corrected, reboot advised (not for a data volume).
      await runCommand('e2fsck', policy === 'repair' ? ['-f', '-y', '--', device] : ['-p', '--', device], { ...opts, okExitCodes: [1, 2] });
    } catch (e) {
      if (e instanceof CommandFailed) {
        throw new PollyError(
          'FAILED_PRECONDITION',
          `the ext4 filesystem on ${device} has errors e2fsck -p cannot fix safely${policy === 'preen' ? '; set the pool\'s fsck to "repair" to let e2fsck -y fix them, or repair it by hand' : ''}: ${e.message}`,
          { device, fsck: policy },
          { cause: e },
        );
      }
      throw e;
    }
  } else if (policy === 'repair') {
    await runCommand('xfs_repair', ['--', device], opts);
  }
}

/** Why an online grow did not happen; the filesystem grows when the volume is next staged. */
export const ONLINE_RESIZE_NOT_PERMITTED = 'online-resize-not-permitted';

/**
 * Grows a mounted filesystem to its device's size; nothing happens when it is that size already.
 * Online ext4 growth needs CAP_SYS_RESOURCE; without it the kernel refuses, which is reported as
 * FAILED_PRECONDITION (reason ONLINE_RESIZE_NOT_PERMITTED): the next stage grows it offline.
 */
export async function growFilesystem(fs: Filesystem, device: string, mountPoint: string, signal?: AbortSignal): Promise<void> {
  const opts = signal ? { signal } : {};
  if (fs === 'xfs') {
    await runCommand('xfs_growfs', ['-d', '--', mountPoint], opts);
    return;
  }
  try {
    await runCommand('resize2fs', ['--', device], opts);
  } catch (e) {
    if (e instanceof CommandFailed && /permission denied/i.test(e.stderr)) {
      throw new PollyError(
        'FAILED_PRECONDITION',
        `the kernel refused to grow the mounted ext4 filesystem on ${device} (online resize needs CAP_SYS_RESOURCE); it grows when the volume is next staged`,
        { reason: ONLINE_RESIZE_NOT_PERMITTED, device },
        { cause: e },
      );
    }
    throw e;
  }
}

/** Bytes of the ext4 filesystem on a device (block count × block size, from its superblock). */
export async function ext4Bytes(device: string, signal?: AbortSignal): Promise<number> {
  const { stdout } = await runCommand('dumpe2fs', ['-h', '--', device], signal ? { signal } : {});
  const count = /^Block count:\s+(\d+)/m.exec(stdout)?.[1];
  const size = /^Block size:\s+(\d+)/m.exec(stdout)?.[1];
  if (!count || !size) throw new PollyError('BACKEND_ERROR', `dumpe2fs shows no block count for ${device}`, { device });
  return Number(count) * Number(size);
}

/**
 * Grows an unmounted ext4 filesystem to its device's size when it is smaller by a MiB or more
 * (a clone larger than its source, an expand done while the volume was not staged, or one the
 * kernel would not do online): e2fsck -f -p, which resize2fs requires, then resize2fs.
 */
export async function growExt4Offline(device: string, deviceBytes: number, signal?: AbortSignal): Promise<boolean> {
  if (deviceBytes - (await ext4Bytes(device, signal)) < 1024 * 1024) return false;
  const opts = signal ? { signal } : {};
  await runCommand('e2fsck', ['-f', '-p', '--', device], { ...opts, okExitCodes: [1, 2] });
  await runCommand('resize2fs', ['--', device], opts);
  return true;
}
