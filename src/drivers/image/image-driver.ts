import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, open, rename, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { invalid, PollyError } from '../../core/errors.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type {
  BackendRef,
  BackendVolume,
  CreateVolumeRequest,
  DriverCapabilities,
  NodeSideDriver,
  OperationOptions,
  StorageDriver,
} from '../../core/ports/storage-driver.js';
import { formatBytes } from '../../core/units.js';
import { copyImageFile, REFLINK_MODES, type ReflinkMode } from '../common/copy-image-file.js';
import { EntryPoolDriver, type EntryKind, type EntryLayout } from '../common/entry-pool-driver.js';
import { lstatIfExists } from '../common/lstat-if-exists.js';
import { syncDirectory } from '../common/write-file-atomic.js';
import { isValidBackendId } from '../dir/check-backend-id.js';
import { checkPoolRootsDisjoint } from '../dir/check-pool-roots-disjoint.js';
import { poolRootPath } from '../dir/pool-root-path.js';
import { checkFilesystem, FSCK_POLICIES, makeFilesystem, MIN_FS_BYTES, type Filesystem, type FsckPolicy } from '../node/filesystems.js';
import { loopsFor } from '../node/loop-devices.js';
import { readMountTable } from '../node/mount-table.js';
import { runCommand } from '../node/run-command.js';
import { readImageMetadata, writeImageMetadata, type ImageFormat, type ImageMetadata } from './image-metadata.js';
import { ImageNodeSide } from './image-node.js';

type Kind = EntryKind;

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

export type ImageLayout = EntryLayout<ImagePool>;

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
export class ImageDriver extends EntryPoolDriver<ImagePool> implements StorageDriver {
  readonly name = 'image';
  readonly capabilities: DriverCapabilities = Object.freeze({ snapshot: true, clone: true, expand: true, block: true, nodeLocal: false });
  readonly node: NodeSideDriver;

  constructor(service: ServiceSpec, pools: readonly ImagePool[]) {
    super(service, pools, 'image');
    this.node = new ImageNodeSide(this);
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('create', options, async () => {
      const signal = options?.signal;
      const { pool, id, sizeBytes, layout, source, locks } = await this.prepareCreate(request, checkImageSize);
      const parameters = request.parameters ?? {};
      const block = checkAccessType(parameters['accessType']) === 'block';
      const format: ImageFormat = block ? 'raw' : checkFilesystem('parameters.fsType', parameters['fsType'] ?? pool.fsType);

      return this.locks.run(locks, signal, async () => {
        if (await this.findEntry(layout, 'volume', id, 'volumeId')) return this.describe(layout, 'volume', id);
        const now = Date.now();
        if (!source) {
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

        const sourceFile = await this.requireEntry(source.layout, source.kind, source.backendId, 'source.ref.backendId');
        const sourceMeta = await this.metadata(source.layout, source.kind, source.backendId, sourceFile);
        this.checkFitsSource(source, sourceMeta.sizeBytes, sizeBytes);
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

  async snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    const signal = options?.signal;
    // The volume's lock is exclusive: an expand must not change the image while it is copied.
    return this.snapshotEntry(snapshotId, source, options, 'exclusive', async (layout, id, volumeId, sourceFile) => {
      const sourceMeta = await this.metadata(layout, 'volume', volumeId, sourceFile);
      await this.checkRoomForCopy(layout, sourceFile);
      await this.build(layout, 'snapshot', id, signal, async (file) => {
        const reflink = layout.pool.reflink;
        const copied = await withFrozenFilesystem(sourceFile, () => copyImageFile(sourceFile, file, { reflink, signal, onProgress: options?.onProgress }));
        await chmod(file, 0o400);
        return {
          version: 1, kind: 'snapshot', sizeBytes: sourceMeta.sizeBytes, format: sourceMeta.format, createdAt: Date.now(), reflinked: copied.reflinked,
          source: { kind: 'volume', pool: layout.pool.spec.name, backendId: volumeId },
        };
      });
    });
  }

  /** Grows the image file; the node grows the loop device and the filesystem (expandOnNode). */
  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    const size = checkImageSize('sizeBytes', sizeBytes);
    return this.expandEntry(ref, size, options, async (layout, file, id) => {
      const meta = await this.metadata(layout, 'volume', id, file);
      // Metadata first: a crash in between leaves a size the file does not have yet, which a
      // retry of the same expand repairs; the reverse order would under-report the size.
      await writeImageMetadata(this.metadataFile(layout, 'volume', id), { ...meta, sizeBytes: size });
      await truncate(file, size);
    });
  }

  async usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined> {
    return this.usageOf(ref, options, async (file) => (await lstat(file)).blocks * 512);
  }

  /** Removes images left in `.staging/` by interrupted operations and metadata without an image. */
  async cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return this.run('cleanup', options, async () =>
      this.removeLeftovers(await this.layout(this.poolOf('pool', pool)), (file) => rm(file, { force: true, recursive: true })),
    );
  }

  // --- used by the node side ----------------------------------------------------------------

  /** The image of a volume (real path) and its metadata; NOT_FOUND when there is none. */
  async volumeImage(ref: BackendRef, field: string): Promise<{ file: string; meta: ImageMetadata; pool: ImagePool }> {
    const { layout, id } = await this.resolve(ref);
    const file = await this.requireEntry(layout, 'volume', id, field);
    return { file, meta: await this.metadata(layout, 'volume', id, file), pool: layout.pool };
  }

  /** The backend id of an image file name in a volumes directory, if it is one. */
  backendIdOf(fileName: string): string | undefined {
    const id = this.entryIdOf(fileName);
    return id !== undefined && isValidBackendId(id) ? id : undefined;
  }

  protected entryIdOf(name: string): string | undefined {
    return name.endsWith(IMAGE_SUFFIX) ? name.slice(0, -IMAGE_SUFFIX.length) : undefined;
  }

  // -------------------------------------------------------------------------------------------

  protected layout(pool: ImagePool): Promise<ImageLayout> {
    return this.makeLayout(pool);
  }

  protected entryPath(layout: ImageLayout, kind: Kind, id: string): string {
    return path.join(kind === 'volume' ? layout.volumes : layout.snapshots, `${id}${IMAGE_SUFFIX}`);
  }

  /** Whether the image exists; a symlink or non-file in its place is refused. */
  protected async findEntry(layout: ImageLayout, kind: Kind, id: string, field: string): Promise<boolean> {
    const st = await lstatIfExists(this.entryPath(layout, kind, id));
    if (!st) return false;
    if (!st.isFile()) throw invalid(field, `${kind} ${JSON.stringify(id)} is not a regular image file in the pool; refusing to use it`);
    return true;
  }

  /** Metadata of an image; an unmanaged image without any is described from the file (ext4 assumed unless raw is asked). */
  private async metadata(layout: ImageLayout, kind: Kind, id: string, file: string): Promise<ImageMetadata> {
    const meta = await readImageMetadata(this.metadataFile(layout, kind, id));
    if (meta) return meta;
    const st = await lstat(file);
    return { version: 1, kind, sizeBytes: st.size, format: layout.pool.fsType, createdAt: Math.floor(st.mtimeMs) };
  }

  protected async describe(layout: ImageLayout, kind: Kind, id: string): Promise<BackendVolume> {
    const meta = await this.metadata(layout, kind, id, this.entryPath(layout, kind, id));
    const volume: BackendVolume = { pool: layout.pool.spec.name, backendId: id, kind, sizeBytes: meta.sizeBytes };
    return meta.createdAt === undefined ? volume : { ...volume, createdAt: meta.createdAt };
  }

  /** A copy that cannot be a reflink needs the source's allocated bytes free; refused before writing. */
  private async checkRoomForCopy(layout: ImageLayout, sourceFile: string): Promise<void> {
    if (layout.pool.reflink !== 'never') return; // a reflink needs (almost) no room; a failed copy is cleaned up
    const needed = (await lstat(sourceFile)).blocks * 512;
    const { freeBytes } = await this.statfsCapacity(layout);
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
      await rename(file, this.entryPath(layout, kind, id));
      await syncDirectory(kind === 'volume' ? layout.volumes : layout.snapshots);
    } catch (e) {
      await rm(file, { force: true }).catch(() => undefined);
      throw e;
    } finally {
      this.stagingInUse.delete(file);
    }
  }

  /** A volume with a loop device on this node is in use and is not deleted. */
  protected async removeExisting(layout: ImageLayout, kind: Kind, file: string, id: string): Promise<void> {
    const loops = await loopsFor(file);
    if (loops.length > 0) {
      throw new PollyError('FAILED_PRECONDITION', `${kind} ${id} is attached on this node (${loops.map((l) => l.device).join(', ')}); unstage and detach it first`, {
        devices: loops.map((l) => l.device),
      });
    }
    await rm(file, { force: true });
    await syncDirectory(kind === 'volume' ? layout.volumes : layout.snapshots);
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
