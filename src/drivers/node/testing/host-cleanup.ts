import { readdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMountTable } from '../mount-table.js';
import { runCommand } from '../run-command.js';

const under = (dir: string, p: string): boolean => p === dir || p.startsWith(`${dir}/`);

/** Loop devices whose backing file lies under `dir` (from /sys, as `losetup -l` shows them). */
export async function loopsBackedUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir('/sys/block').catch(() => [] as string[])) {
    if (!name.startsWith('loop')) continue;
    const backing = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '');
    const file = backing.trim().replace(/ \(deleted\)$/, '');
    if (file && under(dir, file)) out.push(`/dev/${name}`);
  }
  return out;
}

/** Mount points under `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const points = (await readMountTable()).map((m) => m.mountPoint).filter((p) => under(dir, p));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Test cleanup: unmounts everything under `dir`, detaches every loop device backed by a file
 * under it (in rounds, since a pool filesystem can only go once its volumes' loops are gone),
 * removes `dir`, and throws naming anything that stayed.
 */
export async function cleanupHostDir(dir: string): Promise<void> {
  for (let round = 0; round < 10; round++) {
    // Released devices linger while udev still probes them: give them a moment.
    if (round > 0) await sleep(50 * round);
    const mounts = await mountsUnder(dir);
    for (const m of mounts) await runCommand('umount', ['--', m]).catch(() => undefined);
    // Listed after the unmounts: an unmount may free a loop device (autoclear) that another
    // process takes at once, and that one must not be detached from under it.
    const loops = await loopsBackedUnder(dir);
    if (mounts.length === 0 && loops.length === 0) break;
    for (const l of loops) {
      if ((await loopsBackedUnder(dir)).includes(l)) await runCommand('losetup', ['-d', l]).catch(() => undefined);
    }
  }
  const mounts = await mountsUnder(dir);
  const loops = await loopsBackedUnder(dir);
  if (mounts.length > 0 || loops.length > 0) {
    for (const m of mounts) await runCommand('umount', ['-l', '--', m]).catch(() => undefined);
    throw new Error(`cleanup left mounts ${mounts.join(', ') || '-'} and loop devices ${loops.join(', ') || '-'} under ${dir}`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** Whether `findmnt` (util-linux, independent of Polly's parser) sees a mount at `target`. */
export async function findmnt(target: string): Promise<{ source: string; options: string } | undefined> {
  try {
    const { stdout } = await runCommand('findmnt', ['-n', '-r', '-o', 'SOURCE,OPTIONS', '--mountpoint', target]);
    const last = stdout.trim().split('\n').at(-1);
    if (!last) return undefined;
    const [source = '', options = ''] = last.split(' ');
    return { source, options };
  } catch {
    return undefined;
  }
}

/** `losetup -j file`: the loop devices attached to a backing file. */
export async function loopsOf(file: string): Promise<string[]> {
  const { stdout } = await runCommand('losetup', ['-n', '-O', 'NAME', '-j', file]);
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}
