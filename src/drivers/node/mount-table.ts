import { readFile } from 'node:fs/promises';

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  readonly id: number;
  readonly parentId: number;
  /** `major:minor` of the filesystem's device. */
  readonly device: string;
  /** Path inside the filesystem that is mounted here (not `/` for bind mounts of a subtree). */
  readonly root: string;
  readonly mountPoint: string;
  /** Per-mount options (`ro`/`rw`, `nosuid`, …). */
  readonly options: readonly string[];
  /** Optional fields (propagation: `shared:N` peer group, `master:N` slave of group N, …). */
  readonly optional: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** Undoes the kernel's octal escapes (`\040` for a space, …) in mountinfo fields. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses mountinfo text (see proc(5)); malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (fields.length < 10 || sep < 0 || fields.length < sep + 4) continue;
    out.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2]!,
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      options: fields[5]!.split(','),
      optional: fields.slice(6, sep),
      fsType: unescape(fields[sep + 1]!),
      source: unescape(fields[sep + 2]!),
      superOptions: fields[sep + 3]!.split(','),
    });
  }
  return out;
}

/** The mount table of this process's mount namespace, read from the kernel now. */
export async function readMountTable(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mount visible at exactly `mountPoint` (the last one stacked there), if any. */
export function mountAt(table: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const m of table) if (m.mountPoint === mountPoint) found = m;
  return found;
}

/** Every mount at `mountPoint`, bottom first (several when mounts were stacked). */
export const mountsAt = (table: readonly MountEntry[], mountPoint: string): MountEntry[] => table.filter((m) => m.mountPoint === mountPoint);

/** The mount that holds `file` (longest mount point that is a prefix of it; `file` must be a real path). */
export function mountContaining(table: readonly MountEntry[], file: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of table) {
    const prefix = m.mountPoint === '/' ? '/' : `${m.mountPoint}/`;
    if (m.mountPoint !== file && !file.startsWith(prefix)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

/**
 * Where a real path lives inside its filesystem: the device and the path relative to the
 * filesystem's root, which is what mountinfo's `root` shows for a bind mount of that path.
 */
export function fsLocation(table: readonly MountEntry[], file: string): { device: string; fsPath: string } | undefined {
  const m = mountContaining(table, file);
  if (!m) return undefined;
  const rest = file.slice(m.mountPoint === '/' ? 0 : m.mountPoint.length);
  const fsPath = (m.root === '/' ? '' : m.root) + (rest === '' ? '' : rest);
  return { device: m.device, fsPath: fsPath === '' ? '/' : fsPath };
}

/** The peer group a mount propagates to and from (`shared:N`), if it is shared. */
export const sharedGroup = (m: MountEntry): string | undefined => m.optional.find((f) => f.startsWith('shared:'))?.slice(7);

/** The peer group a mount receives mount and unmount events from (`master:N`), if it is a slave. */
export const masterGroup = (m: MountEntry): string | undefined => m.optional.find((f) => f.startsWith('master:'))?.slice(7);

export const isReadOnlyMount = (m: MountEntry): boolean => m.options.includes('ro');
