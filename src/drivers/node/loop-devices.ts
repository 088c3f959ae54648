import { readdir, readFile, realpath } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PollyError } from '../../core/errors.js';
import { runCommand } from './run-command.js';

/** A loop device as the kernel shows it in /sys/block/loopN. */
export interface LoopDevice {
  /** `/dev/loopN` */
  readonly device: string;
  /** `major:minor`, as mountinfo shows it for filesystems on this device. */
  readonly majMin: string;
  readonly backingFile: string;
  readonly readOnly: boolean;
  readonly sizeBytes: number;
}

const read = (file: string): Promise<string> => readFile(file, 'utf8').then((s) => s.trim(), () => '');

/** Every loop device with a backing file, read from /sys now (`losetup -l` reads the same). */
export async function listLoops(): Promise<LoopDevice[]> {
  const out: LoopDevice[] = [];
  for (const name of await readdir('/sys/block').catch(() => [] as string[])) {
    if (!/^loop\d+$/.test(name)) continue;
    const backing = await read(`/sys/block/${name}/loop/backing_file`);
    if (!backing) continue;
    out.push({
      device: `/dev/${name}`,
      majMin: await read(`/sys/block/${name}/dev`),
      // A deleted backing file shows as "<path> (deleted)"; it is still the device's file.
      backingFile: backing,
      readOnly: (await read(`/sys/block/${name}/ro`)) === '1',
      sizeBytes: Number(await read(`/sys/block/${name}/size`)) * 512,
    });
  }
  return out;
}

/** Loop devices backed by `file` (compared by real path). */
export async function loopsFor(file: string): Promise<LoopDevice[]> {
  const real = await realpath(file).catch(() => file);
  return (await listLoops()).filter((l) => l.backingFile === real);
}

/** Attaches `file` to a free loop device (`losetup --find --show`); returns the device. */
export async function attachLoop(file: string, readOnly: boolean, signal?: AbortSignal): Promise<LoopDevice> {
  const real = await realpath(file);
  const args = ['--find', '--show', ...(readOnly ? ['--read-only'] : []), '--', real];
  const { stdout } = await runCommand('losetup', args, signal ? { signal } : {});
  const device = stdout.trim();
  const found = (await listLoops()).find((l) => l.device === device);
  if (!found) throw new PollyError('BACKEND_ERROR', `losetup attached ${real} to ${device}, but the device is gone`, { device });
  return found;
}

/**
 * Detaches a loop device and waits (up to 5 s) until the kernel has released it: while another
 * process (udev's blkid probe, typically) still has it open, `losetup -d` only marks it for
 * release, and its backing file would still look attached.
 */
export async function detachLoop(device: string, signal?: AbortSignal): Promise<void> {
  const backing = `/sys/block/${device.replace(/^\/dev\//, '')}/loop/backing_file`;
  const before = await read(backing);
  await runCommand('losetup', ['--detach', device], signal ? { signal } : {});
  for (let waited = 0; waited < 5000 && before !== '' && (await read(backing)) === before; waited += 20) {
    signal?.throwIfAborted();
    await sleep(20);
  }
}

/** Makes the loop device see its backing file's new size (`losetup --set-capacity`). */
export async function refreshLoop(device: string, signal?: AbortSignal): Promise<void> {
  await runCommand('losetup', ['--set-capacity', device], signal ? { signal } : {});
}
