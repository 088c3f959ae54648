import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, realpath, rename, rm, statfs, truncate } from 'node:fs/promises';
import path from 'node:path';
import { invalid, notFound, PollyError } from '../../core/errors.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type {
  BackendRef,
  BackendVolume,
  CreateVolumeRequest,
  DriverCapabilities,
  NodeSideDriver,
  OperationOptions,
  PoolCapacity,
  StorageDriver,
} from '../../core/ports/storage-driver.js';
import { formatBytes } from '../../core/units.js';
import { copyImageFile, REFLINK_MODES, type ReflinkMode } from '../common/copy-image-file.js';
import { toDriverError } from '../common/driver-error.js';
import { KeyedLock, type LockRequest } from '../common/keyed-lock.js';
import { syncDirectory } from '../common/write-file-atomic.js';
import { checkBackendId, isValidBackendId } from '../dir/check-backend-id.js';
import { checkPoolRootsDisjoint } from '../dir/check-pool-roots-disjoint.js';
import { poolRootPath } from '../dir/pool-root-path.js';
import { checkFilesystem, FSCK_POLICIES, makeFilesystem, MIN_FS_BYTES, type Filesystem, type FsckPolicy } from '../node/filesystems.js';
import { loopsFor } from '../node/loop-devices.js';
import { readMountTable } from '../node/mount-table.js';
import { runCommand } from '../node/run-command.js';
import { imageMetadataPath, readImageMetadata, removeImageMetadata, writeImageMetadata, type ImageFormat, type ImageMetadata } from './image-metadata.js';
import { ImageNodeSide } from './image-node.js';

type Kind = 'volume' | 'snapshot';

const MiB = 1024 * 1024;
/** Image files are whole MiB long. */
const roundUp = (n: number): number => Math.ceil(n / MiB) * MiB;
/** Largest image: ext4's largest file with 4 KiB blocks (16 TiB) minus a MiB. */
const MAX_IMAGE_BYTES = 16 * 1024 * 1024 * MiB - MiB;
const IMAGE_SUFFIX = '.img';

export interface ImagePool {
  readonly spec: PoolSpec;
  readonly root: string;
  readonly fsType: Filesystem;
  readonly reflink: ReflinkMode;
  readonly fsck: FsckPolicy;
}

export interface ImageLayout {
  readonly pool: ImagePool;
  readonly root: string;
  readonly volumes: string;
  readonly snapshots: string;
  readonly staging: string;
  readonly metaVolumes: string;
  readonly metaSnapshots: string;
}

/**
 * The image driver: block volumes as sparse image files on a pool filesystem (local, NFS,
 * CephFS…), like Cinder's NFS driver.
 *
 *   <root>/volumes/<backendId>.img     a volume: a sparse file formatted ext4 (default) or xfs,
 *                                      or raw (block access); a loop device on the node
 *   <root>/snapshots/<backendId>.img   a snapshot: a reflink or sparse copy, mode 0400
 *   <root>/.meta/{volumes,snapshots}/<backendId>.json   size, format, source, creation time
 *   <root>/.staging/                   images being made; renamed into place when complete
 *
 * Snapshots and clones are reflinks when the pool filesystem can (btrfs, XFS with reflink) and
 * the pool's `reflink` allows, else sparse copies with progress. A snapshot of a volume that is
 * mounted on this node freezes its filesystem (fsfreeze) for the copy, so it is consistent.
 */
export class ImageDriver implements StorageDriver {
  readonly name = 'image';
  readonly capabilities: DriverCapabilities = Object.freeze({ snapshot: true, clone: true, expand: true, block: true, nodeLocal: false });
  readonly node: NodeSideDriver;

  private readonly imagePools: ReadonlyMap<string, ImagePool>;
  private readonly locks = new KeyedLock();
  private readonly stagingInUse = new Set<string>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    readonly service: ServiceSpec,
    pools: readonly ImagePool[],
  ) {
    this.imagePools = new Map(pools.map((p) => [p.spec.name, p]));
    this.node = new ImageNodeSide(this);
  }

  pools(): readonly string[] {
    return [...this.imagePools.keys()];
  }

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    return this.run('capacity', options, async () => this.poolCapacity(await this.layout(this.poolOf('pool', pool))));
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('create', options, async () => {
      const signal = options?.signal;
      const pool = this.poolOf('pool', request?.pool);
      const id = checkBackendId('volumeId', request.volumeId);
      const sizeBytes = checkImageSize('sizeBytes', request.sizeBytes);
      const parameters = request.parameters ?? {};
      const block = checkAccessType(parameters['accessType']) === 'block';
      const format: ImageFormat = block ? 'raw' : checkFilesystem('parameters.fsType', parameters['fsType'] ?? pool.fsType);
      const source = request.source === undefined ? undefined : this.checkSource(request.source);
      const layout = await this.layout(pool);
      const sourceLayout = source && (source.pool === pool ? layout : await this.layout(source.pool));
      const locks: LockRequest[] = [{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }];
      if (source) locks.push({ key: lockKey(source.pool, source.kind, source.backendId), mode: 'shared' });

      return this.locks.run(locks, signal, async () => {
        if (await this.findImage(layout, 'volume', id, 'volumeId')) return this.describe(layout, 'volume', id);
        const now = Date.now();
        if (!source || !sourceLayout) {
          if (format !== 'raw' && sizeBytes < MIN_FS_BYTES[format]) {
            throw new PollyError('OUT_OF_RANGE', `sizeBytes: an ${format} volume needs at least ${formatBytes(MIN_FS_BYTES[format])}`, { field: 'sizeBytes', minBytes: MIN_FS_BYTES[format] });
          }
          await this.build(layout, 'volume', id, signal, async (file) => {
            const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
            try {
              await handle.truncate(sizeBytes);
            } finally {
              await handle.close();
            }
            if (format !== 'raw') await makeFilesystem(format, file, signal);
            return { version: 1, kind: 'volume', sizeBytes, format, createdAt: now };
          });
          return this.describe(layout, 'volume', id);
        }

        const sourceFile = await this.requireImage(sourceLayout, source.kind, source.backendId, 'source.ref.backendId');
        const sourceMeta = await this.metadata(sourceLayout, source.kind, source.backendId, sourceFile);
        if (sizeBytes < sourceMeta.sizeBytes) {
          throw new PollyError('OUT_OF_RANGE', `sizeBytes: ${sizeBytes} is smaller than the source ${source.kind} "${source.backendId}" (${sourceMeta.sizeBytes} bytes)`, {
            field: 'sizeBytes',
            sourceBytes: sourceMeta.sizeBytes,
          });
        }
        await this.checkRoomForCopy(layout, sourceFile);
        await this.build(layout, 'volume', id, signal, async (file) => {
          const copied = await copyImageFile(sourceFile, file, { reflink: pool.reflink, signal, onProgress: options?.onProgress });
          await chmod(file, 0o600);
          // A larger clone: the filesystem grows to the file when it is first staged.
          if (sizeBytes > sourceMeta.sizeBytes) await truncate(file, sizeBytes);
          return {
            version: 1, kind: 'volume', sizeBytes, format: sourceMeta.format, createdAt: now, reflinked: copied.reflinked,
            source: { kind: source.kind, pool: source.pool.spec.name, backendId: source.backendId },
          };
        });
        return this.describe(layout, 'volume', id);
      });
    });
  }

  async delete(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.remove('delete', 'volume', ref, options);
  }

  async snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('snapshot', options, async () => {
      const signal = options?.signal;
      const pool = this.poolOf('source.pool', source?.pool);
      const volumeId = checkBackendId('source.backendId', source.backendId);
      const id = checkBackendId('snapshotId', snapshotId);
      const layout = await this.layout(pool);
      const locks: LockRequest[] = [
        { key: lockKey(pool, 'snapshot', id), mode: 'exclusive' },
        // Exclusive: an expand must not change the image while it is copied.
        { key: lockKey(pool, 'volume', volumeId), mode: 'exclusive' },
      ];
      return this.locks.run(locks, signal, async () => {
        if (await this.findImage(layout, 'snapshot', id, 'snapshotId')) return this.describe(layout, 'snapshot', id);
        const sourceFile = await this.requireImage(layout, 'volume', volumeId, 'source.backendId');
        const sourceMeta = await this.metadata(layout, 'volume', volumeId, sourceFile);
        await this.checkRoomForCopy(layout, sourceFile);
        await this.build(layout, 'snapshot', id, signal, async (file) => {
          const copied = await withFrozenFilesystem(sourceFile, () => copyImageFile(sourceFile, file, { reflink: pool.reflink, signal, onProgress: options?.onProgress }));
          await chmod(file, 0o400);
          return {
            version: 1, kind: 'snapshot', sizeBytes: sourceMeta.sizeBytes, format: sourceMeta.format, createdAt: Date.now(), reflinked: copied.reflinked,
            source: { kind: 'volume', pool: pool.spec.name, backendId: volumeId },
          };
        });
        return this.describe(layout, 'snapshot', id);
      });
    });
  }

  async deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.remove('deleteSnapshot', 'snapshot', ref, options);
  }

  /** Grows the image file; the node grows the loop device and the filesystem (expandOnNode). */
  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('expand', options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const size = checkImageSize('sizeBytes', sizeBytes);
      const layout = await this.layout(pool);
      return this.locks.run([{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }], options?.signal, async () => {
        const file = await this.requireImage(layout, 'volume', id, 'ref.backendId');
        const meta = await this.metadata(layout, 'volume', id, file);
        if (size < meta.sizeBytes) {
          throw new PollyError('OUT_OF_RANGE', `sizeBytes: cannot shrink volume "${id}" from ${meta.sizeBytes} to ${size} bytes`, {
            field: 'sizeBytes', currentBytes: meta.sizeBytes, requestedBytes: size,
          });
        }
        if (size === meta.sizeBytes) return this.describe(layout, 'volume', id);
        // Metadata first: a crash in between leaves a size the file does not have yet, which a
        // retry of the same expand repairs; the reverse order would under-report the size.
        await writeImageMetadata(this.metadataFile(layout, 'volume', id), { ...meta, sizeBytes: size });
        await truncate(file, size);
        return this.describe(layout, 'volume', id);
      });
    });
  }

  async list(pool: string, options?: OperationOptions): Promise<BackendVolume[]> {
    return this.run('list', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      const found: BackendVolume[] = [];
      for (const kind of ['volume', 'snapshot'] as const) {
        const entries = await readdir(kind === 'volume' ? layout.volumes : layout.snapshots, { withFileTypes: true });
        for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          options?.signal?.throwIfAborted();
          if (!entry.isFile() || !entry.name.endsWith(IMAGE_SUFFIX)) continue;
          const id = entry.name.slice(0, -IMAGE_SUFFIX.length);
          if (!isValidBackendId(id)) continue;
          try {
            found.push(await this.describe(layout, kind, id));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
      }
      return found;
    });
  }

  async usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined> {
    return this.run('usage', options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const file = await this.requireImage(await this.layout(pool), 'volume', id, 'ref.backendId');
      return (await lstat(file)).blocks * 512;
    });
  }

  /** Removes images left in `.staging/` by interrupted operations and metadata without an image. */
  async cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return this.run('cleanup', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      let removed = 0;
      for (const name of await readdir(layout.staging)) {
        const leftover = path.join(layout.staging, name);
        if (this.stagingInUse.has(leftover)) continue;
        await rm(leftover, { force: true, recursive: true });
        removed++;
      }
      for (const kind of ['volume', 'snapshot'] as const) {
        const metaDir = kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots;
        for (const name of await readdir(metaDir)) {
          const match = /^(.+)\.json(\.tmp-[0-9a-f]+)?$/.exec(name);
          const id = match?.[1];
          if (!id || !isValidBackendId(id) || this.locks.isBusy(lockKey(layout.pool, kind, id))) continue;
          if (match[2] === undefined && (await this.findImage(layout, kind, id, 'backendId').catch(() => true))) continue;
          await removeImageMetadata(path.join(metaDir, name));
          removed++;
        }
      }
      return removed;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }

  // --- used by the node side ----------------------------------------------------------------

  /** The image of a volume (real path) and its metadata; NOT_FOUND when there is none. */
  async volumeImage(ref: BackendRef, field: string): Promise<{ file: string; meta: ImageMetadata; pool: ImagePool }> {
    const pool = this.poolOf('ref.pool', ref?.pool);
    const id = checkBackendId(field, ref.backendId);
    const layout = await this.layout(pool);
    const file = await this.requireImage(layout, 'volume', id, field);
    return { file, meta: await this.metadata(layout, 'volume', id, file), pool };
  }

  /** The directory of each pool's volume images (real paths). */
  async volumeDirs(): Promise<Array<{ pool: string; dir: string }>> {
    const out: Array<{ pool: string; dir: string }> = [];
    for (const pool of this.imagePools.values()) out.push({ pool: pool.spec.name, dir: (await this.layout(pool)).volumes });
    return out;
  }

  /** The backend id of an image file name in a volumes directory, if it is one. */
  backendIdOf(fileName: string): string | undefined {
    if (!fileName.endsWith(IMAGE_SUFFIX)) return undefined;
    const id = fileName.slice(0, -IMAGE_SUFFIX.length);
    return isValidBackendId(id) ? id : undefined;
  }

  run<T>(op: string, options: { readonly signal?: AbortSignal | undefined } | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PollyError('UNAVAILABLE', `image driver of service "${this.service.name}" is closed`));
    const signal = options?.signal;
    const task = (async () => {
      try {
        signal?.throwIfAborted();
        return await fn();
      } catch (e) {
        throw toDriverError('image', e, op, signal);
      }
    })();
    this.running.add(task);
    const forget = (): void => void this.running.delete(task);
    task.then(forget, forget);
    return task;
  }

  // -------------------------------------------------------------------------------------------

  private poolOf(field: string, pool: unknown): ImagePool {
    const found = typeof pool === 'string' ? this.imagePools.get(pool) : undefined;
    if (!found) throw invalid(field, `unknown pool ${JSON.stringify(pool)} of service "${this.service.name}"; known: ${this.pools().join(', ')}`);
    return found;
  }

  private checkSource(source: NonNullable<CreateVolumeRequest['source']>): { kind: Kind; pool: ImagePool; backendId: string } {
    if (typeof source !== 'object' || source === null) throw invalid('source', 'must be { kind, ref }');
    if (source.kind !== 'snapshot' && source.kind !== 'volume') throw invalid('source.kind', 'must be "snapshot" or "volume"');
    const pool = this.poolOf('source.ref.pool', source.ref?.pool);
    return { kind: source.kind, pool, backendId: checkBackendId('source.ref.backendId', source.ref.backendId) };
  }

  private async layout(pool: ImagePool): Promise<ImageLayout> {
    await mkdir(pool.root, { recursive: true, mode: 0o755 });
    const root = await realpath(pool.root);
    const layout: ImageLayout = {
      pool,
      root,
      volumes: path.join(root, 'volumes'),
      snapshots: path.join(root, 'snapshots'),
      staging: path.join(root, '.staging'),
      metaVolumes: path.join(root, '.meta', 'volumes'),
      metaSnapshots: path.join(root, '.meta', 'snapshots'),
    };
    for (const dir of [layout.volumes, layout.snapshots, layout.staging, path.join(root, '.meta'), layout.metaVolumes, layout.metaSnapshots]) {
      await ensureDirectory(dir);
    }
    return layout;
  }

  private imagePath(layout: ImageLayout, kind: Kind, id: string): string {
    return path.join(kind === 'volume' ? layout.volumes : layout.snapshots, `${id}${IMAGE_SUFFIX}`);
  }

  private metadataFile(layout: ImageLayout, kind: Kind, id: string): string {
    return imageMetadataPath(kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots, id);
  }

  /** Whether the image exists; a symlink or non-file in its place is refused. */
  private async findImage(layout: ImageLayout, kind: Kind, id: string, field: string): Promise<boolean> {
    let st;
    try {
      st = await lstat(this.imagePath(layout, kind, id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    if (!st.isFile()) throw invalid(field, `${kind} ${JSON.stringify(id)} is not a regular image file in the pool; refusing to use it`);
    return true;
  }

  private async requireImage(layout: ImageLayout, kind: Kind, id: string, field: string): Promise<string> {
    if (!(await this.findImage(layout, kind, id, field))) throw notFound(kind, id);
    return this.imagePath(layout, kind, id);
  }

  /** Metadata of an image; an unmanaged image without any is described from the file (ext4 assumed unless raw is asked). */
  private async metadata(layout: ImageLayout, kind: Kind, id: string, file: string): Promise<ImageMetadata> {
    const meta = await readImageMetadata(this.metadataFile(layout, kind, id));
    if (meta) return meta;
    const st = await lstat(file);
    return { version: 1, kind, sizeBytes: st.size, format: layout.pool.fsType, createdAt: Math.floor(st.mtimeMs) };
  }

  private async describe(layout: ImageLayout, kind: Kind, id: string): Promise<BackendVolume> {
    const meta = await this.metadata(layout, kind, id, this.imagePath(layout, kind, id));
    const volume: BackendVolume = { pool: layout.pool.spec.name, backendId: id, kind, sizeBytes: meta.sizeBytes };
    return meta.createdAt === undefined ? volume : { ...volume, createdAt: meta.createdAt };
  }

  private async poolCapacity(layout: ImageLayout): Promise<PoolCapacity> {
    const fs = await statfs(layout.root);
    const backendTotal = fs.bsize * fs.blocks;
    const cap = layout.pool.spec.capacityBytes;
    const totalBytes = cap === undefined ? backendTotal : Math.min(backendTotal, cap);
    return { pool: layout.pool.spec.name, totalBytes, freeBytes: Math.min(fs.bavail * fs.bsize, totalBytes) };
  }

  /** A copy that cannot be a reflink needs the source's allocated bytes free; refused before writing. */
  private async checkRoomForCopy(layout: ImageLayout, sourceFile: string): Promise<void> {
    if (layout.pool.reflink !== 'never') return; // a reflink needs (almost) no room; a failed copy is cleaned up
    const needed = (await lstat(sourceFile)).blocks * 512;
    const { freeBytes } = await this.poolCapacity(layout);
    if (needed > freeBytes) {
      throw new PollyError('INSUFFICIENT_CAPACITY', `pool ${layout.pool.spec.name}: the copy needs ${formatBytes(needed)}, ${formatBytes(freeBytes)} free`, {
        pool: layout.pool.spec.name, neededBytes: needed, freeBytes,
      });
    }
  }

  /**
   * Makes an image in `.staging/` and publishes it: metadata first, then one rename. A failure
   * or abort removes the staged file, so nothing half-made is ever visible.
   */
  private async build(layout: ImageLayout, kind: Kind, id: string, signal: AbortSignal | undefined, make: (file: string) => Promise<ImageMetadata>): Promise<void> {
    const file = path.join(layout.staging, `${id}.${randomBytes(6).toString('hex')}${IMAGE_SUFFIX}`);
    this.stagingInUse.add(file);
    try {
      const meta = await make(file);
      signal?.throwIfAborted();
      const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await writeImageMetadata(this.metadataFile(layout, kind, id), meta);
      await rename(file, this.imagePath(layout, kind, id));
      await syncDirectory(kind === 'volume' ? layout.volumes : layout.snapshots);
    } catch (e) {
      await rm(file, { force: true }).catch(() => undefined);
      throw e;
    } finally {
      this.stagingInUse.delete(file);
    }
  }

  private remove(op: string, kind: Kind, ref: BackendRef, options: OperationOptions | undefined): Promise<void> {
    return this.run(op, options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const layout = await this.layout(pool);
      await this.locks.run([{ key: lockKey(pool, kind, id), mode: 'exclusive' }], options?.signal, async () => {
        const metaFile = this.metadataFile(layout, kind, id);
        if (!(await this.findImage(layout, kind, id, 'ref.backendId'))) {
          await removeImageMetadata(metaFile);
          return;
        }
        const file = this.imagePath(layout, kind, id);
        const loops = await loopsFor(file);
        if (loops.length > 0) {
          throw new PollyError('FAILED_PRECONDITION', `${kind} ${id} is attached on this node (${loops.map((l) => l.device).join(', ')}); unstage and detach it first`, {
            devices: loops.map((l) => l.device),
          });
        }
        await rm(file, { force: true });
        await syncDirectory(kind === 'volume' ? layout.volumes : layout.snapshots);
        await removeImageMetadata(metaFile);
      });
    });
  }
}

/** Runs `fn` with the filesystems of `imageFile` that are mounted on this node frozen (fsfreeze), for a consistent copy. */
async function withFrozenFilesystem<T>(imageFile: string, fn: () => Promise<T>): Promise<T> {
  const loops = await loopsFor(imageFile);
  const table = await readMountTable();
  const frozen: string[] = [];
  try {
    for (const loop of loops) {
      // One mount per filesystem is enough: bind mounts share the superblock.
      const mount = table.find((m) => m.device === loop.majMin);
      if (!mount || mount.options.includes('ro')) continue;
      await runCommand('fsfreeze', ['--freeze', '--', mount.mountPoint]);
      frozen.push(mount.mountPoint);
    }
    return await fn();
  } finally {
    for (const m of frozen) await runCommand('fsfreeze', ['--unfreeze', '--', m]).catch(() => undefined);
  }
}

/** Creates the image driver of a service; checks every pool's settings now. */
export function createImageDriver(service: ServiceSpec): ImageDriver {
  const pools: ImagePool[] = [];
  for (const spec of service.pools) {
    const at = (key: string) => `services.${service.name}.pools.${spec.name}.${key}`;
    const fsType = checkFilesystem(at('fsType'), spec.params['fsType'] ?? 'ext4');
    const reflink = spec.params['reflink'] ?? 'auto';
    if (!(REFLINK_MODES as readonly unknown[]).includes(reflink)) throw invalid(at('reflink'), `${JSON.stringify(reflink)} is not accepted; accepted: ${REFLINK_MODES.join(', ')}`);
    const fsck = spec.params['fsck'] ?? 'preen';
    if (!(FSCK_POLICIES as readonly unknown[]).includes(fsck)) throw invalid(at('fsck'), `${JSON.stringify(fsck)} is not accepted; accepted: ${FSCK_POLICIES.join(', ')}`);
    pools.push({ spec, root: poolRootPath(service, spec), fsType, reflink: reflink as ReflinkMode, fsck: fsck as FsckPolicy });
  }
  checkPoolRootsDisjoint([{ ...service, driver: 'image' }]);
  return new ImageDriver(service, pools);
}

const lockKey = (pool: ImagePool, kind: Kind, id: string): string => `${pool.spec.name}\u0000${kind}\u0000${id}`;

function checkImageSize(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalid(field, 'must be a positive integer number of bytes');
  if (value > MAX_IMAGE_BYTES) throw new PollyError('OUT_OF_RANGE', `${field}: at most ${formatBytes(MAX_IMAGE_BYTES)} for an image volume`, { field });
  return roundUp(value);
}

function checkAccessType(value: unknown): 'mount' | 'block' {
  if (value === undefined || value === 'mount') return 'mount';
  if (value === 'block') return 'block';
  throw invalid('parameters.accessType', 'must be "mount" or "block"');
}

async function ensureDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await lstat(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new PollyError('BACKEND_ERROR', `image driver: ${dir} must be a directory; refusing to use the pool`, { path: dir });
  }
}
