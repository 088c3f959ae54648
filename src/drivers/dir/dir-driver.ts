import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, realpath, rename, rmdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { invalid, notFound, PollyError } from '../../core/errors.js';
import type { ServiceSpec } from '../../core/model.js';
import type {
  NodeSideDriver,
  BackendRef,
  BackendVolume,
  CreateVolumeRequest,
  DriverCapabilities,
  OperationOptions,
  PoolCapacity,
  StorageDriver,
} from '../../core/ports/storage-driver.js';
import { formatBytes } from '../../core/units.js';
import { checkBackendId, isValidBackendId } from './check-backend-id.js';
import { checkPoolRootsDisjoint } from './check-pool-roots-disjoint.js';
import { copyTree, type FileAttrs } from './copy-tree.js';
import { addMetadataUnsynced, metadataPath, readMetadata, removeMetadata, writeMetadata, writeMetadataUnsynced, type DirMetadata } from './dir-metadata.js';
import { DirectorySync } from './directory-sync.js';
import { DirectoryNodeSide } from '../node/directory-node-side.js';
import { KeyedLock, type LockRequest } from '../common/keyed-lock.js';
import { poolRootPath } from './pool-root-path.js';
import { processUmask } from './process-umask.js';
import { removeTree } from './remove-tree.js';
import { isVanished, withSafeDir } from './safe-dir.js';
import { scanTree, type TreeScan } from './scan-tree.js';
import { layoutPaths, type EntryLayout, type EntryPool } from '../common/entry-pool-driver.js';
import { OperationRunner } from '../common/operation-runner.js';

export { checkPoolRootsDisjoint } from './check-pool-roots-disjoint.js';

type Kind = 'volume' | 'snapshot';

/** A snapshot's root directory: only its owner (the driver) may enter, and nobody may write. */
const SNAPSHOT_ROOT_MODE = 0o500;
/** Entries described at once while listing a pool. */
const LIST_CONCURRENCY = 64;
/** Root directory of a new empty volume: root-owned 0755, like Docker's local volumes. */
const NEW_VOLUME_MODE = 0o755;

type DirPool = EntryPool;

/** The directories of a pool, resolved and checked for this operation. */
type PoolLayout = EntryLayout<DirPool>;

export interface CleanupStagingOptions {
  /** Only remove leftovers not modified for this long (protects other processes' work in progress). */
  readonly olderThanMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * The dir driver: a pool is a directory tree, a volume a directory in it.
 *
 *   <root>/volumes/<backendId>     volumes (the user's data, nothing else inside)
 *   <root>/snapshots/<backendId>   snapshots: full copies whose root is 0500 and owned by the
 *                                  driver, so non-root users can neither read nor write them
 *                                  (root bypasses permissions, as always)
 *   <root>/.staging/               copies in progress and deletions; renamed into place when
 *                                  complete, so a half-made volume is never visible
 *   <root>/.meta/{volumes,snapshots}/<backendId>.json   size and creation time, written atomically
 *
 * A volume's size is bookkeeping only (no quota is enforced on the directory). Every backendId
 * is checked before it reaches a path; symlinks in the pool are refused, never followed; trees
 * are read through descriptors (SafeDir) so a workload racing the copy cannot redirect it.
 */
export class DirDriver implements StorageDriver {
  readonly name = 'dir';
  readonly capabilities: DriverCapabilities = Object.freeze({
    snapshot: true,
    clone: true,
    expand: true,
    block: false,
    nodeLocal: false,
  });

  /** Stage = bind mount of the volume directory; publish = bind mount of the staging path. */
  readonly node: NodeSideDriver = new DirectoryNodeSide({
    driverName: 'dir',
    isBackendId: isValidBackendId,
    volumePath: async (ref, field) => {
      const layout = await this.layout(this.poolOf('ref.pool', ref?.pool));
      return this.requireEntry(layout, 'volume', checkBackendId(field, ref.backendId), field);
    },
    volumeParents: async () => {
      const out: { pool: string; dir: string }[] = [];
      for (const pool of this.dirPools.values()) out.push({ pool: pool.spec.name, dir: (await this.layout(pool)).volumes });
      return out;
    },
  });

  private readonly dirPools: ReadonlyMap<string, DirPool>;
  private readonly locks = new KeyedLock();
  /** Staging paths this instance is using right now; cleanupStaging leaves them alone. */
  private readonly stagingInUse = new Set<string>();
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly isRoot = this.uid === 0;
  /** Checked layouts by pool name; dropped when an operation fails, so the next one re-checks. */
  private readonly layouts = new Map<string, Promise<PoolLayout>>();
  private readonly directorySync = new DirectorySync();
  private readonly runner: OperationRunner;

  constructor(
    readonly service: ServiceSpec,
    roots: ReadonlyMap<string, string>,
  ) {
    // A pool directory may have changed under a failed operation: check the layouts again.
    this.runner = new OperationRunner('dir', service.name, () => {
      this.layouts.clear();
      this.directorySync.reset();
    });
    const pools = new Map<string, DirPool>();
    for (const spec of service.pools) pools.set(spec.name, { spec, root: roots.get(spec.name)! });
    this.dirPools = pools;
  }

  pools(): readonly string[] {
    return [...this.dirPools.keys()];
  }

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    return this.run('capacity', options, async () => this.poolCapacity(await this.layout(this.poolOf('pool', pool))));
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('create', options, async () => {
      const signal = options?.signal;
      const pool = this.poolOf('pool', request?.pool);
      const id = checkBackendId('volumeId', request.volumeId);
      const sizeBytes = checkSize('sizeBytes', request.sizeBytes);
      const source = request.source === undefined ? undefined : this.checkSource(request.source);

      const layout = await this.layout(pool);
      const sourceLayout = source && (source.pool === pool ? layout : await this.layout(source.pool));
      const locks: LockRequest[] = [{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }];
      if (source) locks.push({ key: lockKey(source.pool, source.kind, source.backendId), mode: 'shared' });

      return this.locks.run(locks, signal, async () => {
        const metadata: DirMetadata = { version: 1, kind: 'volume', sizeBytes, createdAt: Date.now() };
        // The common case first: an empty volume that is not there yet is one mkdir.
        if ((!source || !sourceLayout) && (await this.createEmpty(layout, id, metadata))) {
          return { pool: layout.pool.spec.name, backendId: id, kind: 'volume', sizeBytes, createdAt: metadata.createdAt! };
        }
        if (await this.findEntry(layout, 'volume', id, 'volumeId')) return this.describe(layout, 'volume', id, signal);
        if (!source || !sourceLayout) throw new PollyError('BACKEND_ERROR', `dir driver: volume ${JSON.stringify(id)} appeared and vanished while being created`, { backendId: id });

        const sourcePath = await this.requireEntry(sourceLayout, source.kind, source.backendId, 'source.ref.backendId');
        const sourceMetadata = await readSoundMetadata(this.metadataFile(sourceLayout, source.kind, source.backendId));
        if (sourceMetadata && sizeBytes < sourceMetadata.sizeBytes) {
          throw new PollyError(
            'OUT_OF_RANGE',
            `sizeBytes: ${sizeBytes} is smaller than the source ${source.kind} "${source.backendId}" (${sourceMetadata.sizeBytes} bytes)`,
            { field: 'sizeBytes', sourceBytes: sourceMetadata.sizeBytes },
          );
        }
        const scan = await scanTree(sourcePath, signal);
        await this.checkRoomForCopy(layout, scan);
        await this.stage(layout, id, signal, (dir) =>
          copyTree(sourcePath, dir, {
            signal,
            onProgress: options?.onProgress,
            totalBytes: scan.apparentBytes,
            preserveOwners: this.isRoot,
            // A snapshot's own root is locked down; the volume gets the original root back.
            rootAttrs: source.kind === 'snapshot' ? sourceMetadata?.root : undefined,
          }),
          async (dir) =>
            this.publish(layout, 'volume', id, dir, {
              ...metadata,
              source: { kind: source.kind, pool: source.pool.spec.name, backendId: source.backendId },
            }),
        );
        return this.describe(layout, 'volume', id, signal);
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
        { key: lockKey(pool, 'volume', volumeId), mode: 'shared' },
      ];

      return this.locks.run(locks, signal, async () => {
        if (await this.findEntry(layout, 'snapshot', id, 'snapshotId')) {
          // A crash may have come between the rename and the chmod of the first attempt.
          await withSafeDir(this.entryPath(layout, 'snapshot', id), (dir) => dir.chmod(SNAPSHOT_ROOT_MODE));
          return this.describe(layout, 'snapshot', id, signal);
        }
        const sourcePath = await this.requireEntry(layout, 'volume', volumeId, 'source.backendId');
        const sourceMetadata = await readSoundMetadata(this.metadataFile(layout, 'volume', volumeId));
        const scan = await scanTree(sourcePath, signal);
        await this.checkRoomForCopy(layout, scan);
        const now = Date.now();
        const lockedRoot: FileAttrs = { mode: 0o700, uid: this.uid, gid: this.gid, atimeUs: now * 1000, mtimeUs: now * 1000 };
        await this.stage(
          layout,
          id,
          signal,
          (dir) =>
            copyTree(sourcePath, dir, {
              signal,
              onProgress: options?.onProgress,
              totalBytes: scan.apparentBytes,
              preserveOwners: this.isRoot,
              rootAttrs: lockedRoot,
            }),
          async (dir, copied) => {
            await this.publish(layout, 'snapshot', id, dir, {
              version: 1,
              kind: 'snapshot',
              sizeBytes: sourceMetadata?.sizeBytes ?? scan.allocatedBytes,
              createdAt: now,
              source: { kind: 'volume', pool: pool.spec.name, backendId: volumeId },
              root: copied.rootAttrs,
            });
            // After the rename: a non-root process cannot move a directory it may not write.
            await withSafeDir(this.entryPath(layout, 'snapshot', id), (d) => d.chmod(SNAPSHOT_ROOT_MODE));
          },
        );
        return this.describe(layout, 'snapshot', id, signal);
      });
    });
  }

  async deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.remove('deleteSnapshot', 'snapshot', ref, options);
  }

  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('expand', options, async () => {
      const signal = options?.signal;
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const size = checkSize('sizeBytes', sizeBytes);
      const layout = await this.layout(pool);
      return this.locks.run([{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }], signal, async () => {
        await this.requireEntry(layout, 'volume', id, 'ref.backendId');
        const current = await this.describe(layout, 'volume', id, signal);
        if (size < current.sizeBytes) {
          throw new PollyError('OUT_OF_RANGE', `sizeBytes: cannot shrink volume "${id}" from ${current.sizeBytes} to ${size} bytes`, {
            field: 'sizeBytes',
            currentBytes: current.sizeBytes,
            requestedBytes: size,
          });
        }
        if (size === current.sizeBytes) return current;
        const file = this.metadataFile(layout, 'volume', id);
        const metadata: DirMetadata = (await readSoundMetadata(file)) ?? { version: 1, kind: 'volume', sizeBytes: size };
        await writeMetadata(file, { ...metadata, sizeBytes: size });
        return this.describe(layout, 'volume', id, signal);
      });
    });
  }

  async listIds(pool: string, options?: OperationOptions): Promise<(BackendRef & { kind: Kind })[]> {
    return this.run('list', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      const found: (BackendRef & { kind: Kind })[] = [];
      for (const kind of ['volume', 'snapshot'] as const) {
        for (const backendId of await this.entryIds(layout, kind)) found.push({ pool: layout.pool.spec.name, backendId, kind });
      }
      return found;
    });
  }

  async list(pool: string, options?: OperationOptions): Promise<BackendVolume[]> {
    return this.run('list', options, async () => {
      const signal = options?.signal;
      const layout = await this.layout(this.poolOf('pool', pool));
      const found: BackendVolume[] = [];
      for (const kind of ['volume', 'snapshot'] as const) {
        const ids = await this.entryIds(layout, kind);
        for (let i = 0; i < ids.length; i += LIST_CONCURRENCY) {
          signal?.throwIfAborted();
          const described = await Promise.all(
            ids.slice(i, i + LIST_CONCURRENCY).map((id) =>
              this.describe(layout, kind, id, signal).catch((e: unknown) => {
                if (isVanished(e)) return undefined; // deleted while we listed
                throw e;
              }),
            ),
          );
          for (const d of described) if (d) found.push(d);
        }
      }
      return found;
    });
  }

  async usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined> {
    return this.run('usage', options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const layout = await this.layout(pool);
      const volume = await this.requireEntry(layout, 'volume', id, 'ref.backendId');
      return (await scanTree(volume, options?.signal)).allocatedBytes;
    });
  }

  /**
   * Removes what crashed or failed operations left in `.staging/` and metadata files whose
   * volume or snapshot no longer exists. Work in progress in this process is never touched;
   * `olderThanMs` protects that of other processes sharing the pool. Returns what was removed,
   * relative to the pool root. The reconciler calls this.
   */
  async cleanupStaging(pool: string, options: CleanupStagingOptions = {}): Promise<string[]> {
    return this.run('cleanupStaging', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      const cutoff = Date.now() - (options.olderThanMs ?? 0);
      const removed: string[] = [];
      const oldEnough = async (file: string): Promise<boolean> => {
        try {
          return (await lstat(file)).mtimeMs <= cutoff;
        } catch (e) {
          if (isVanished(e)) return false;
          throw e;
        }
      };

      for (const name of await readdir(layout.staging)) {
        options.signal?.throwIfAborted();
        const leftover = path.join(layout.staging, name);
        if (this.stagingInUse.has(leftover) || !(await oldEnough(leftover))) continue;
        await removeTree(leftover);
        removed.push(path.join('.staging', name));
      }

      for (const kind of ['volume', 'snapshot'] as const) {
        const metaDir = kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots;
        for (const name of await readdir(metaDir)) {
          options.signal?.throwIfAborted();
          // `<id>.json` or a temporary `<id>.json.tmp-…` of an interrupted write.
          const match = /^(.+)\.json(\.tmp-[0-9a-f]+)?$/.exec(name);
          const id = match?.[1];
          if (!id || !isValidBackendId(id) || this.locks.isBusy(lockKey(layout.pool, kind, id))) continue;
          const file = path.join(metaDir, name);
          const orphan = match[2] !== undefined || !(await this.entryExists(layout, kind, id));
          if (!orphan || !(await oldEnough(file))) continue;
          await removeMetadata(file);
          removed.push(path.relative(layout.root, file));
        }
      }
      return removed;
    });
  }

  /** An unmanaged volume that is an empty directory is removed (see the port, D95). */
  async removeEmptyOrphan(ref: BackendRef, options?: OperationOptions): Promise<boolean> {
    return this.run('removeEmptyOrphan', options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const layout = await this.layout(pool);
      return this.locks.run([{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }], options?.signal, async () => {
        try {
          await rmdir(this.entryPath(layout, 'volume', id));
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EBUSY') return false;
          throw e;
        }
        await Promise.all([this.directorySync.sync(layout.volumes), removeMetadata(this.metadataFile(layout, 'volume', id))]);
        return true;
      });
    });
  }

  /** The port's name for cleanupStaging: how many leftovers were removed. */
  async cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return (await this.cleanupStaging(pool, options?.signal ? { signal: options.signal } : {})).length;
  }

  /** Waits for running operations; new ones are refused with UNAVAILABLE. */
  async close(): Promise<void> {
    await this.runner.close();
    await this.directorySync.close();
  }

  // ---------------------------------------------------------------------------------------

  /** Runs one public operation: refuses after close, maps errors, tracks it for close(). */
  private run<T>(op: string, options: { readonly signal?: AbortSignal } | undefined, fn: () => Promise<T>): Promise<T> {
    return this.runner.run(op, options, fn);
  }

  private poolOf(field: string, pool: unknown): DirPool {
    const found = typeof pool === 'string' ? this.dirPools.get(pool) : undefined;
    if (!found) {
      throw invalid(field, `unknown pool ${JSON.stringify(pool)} of service "${this.service.name}"; known: ${this.pools().join(', ')}`);
    }
    return found;
  }

  private checkSource(source: NonNullable<CreateVolumeRequest['source']>): { kind: Kind; pool: DirPool; backendId: string } {
    if (typeof source !== 'object' || source === null) throw invalid('source', 'must be { kind, ref }');
    if (source.kind !== 'snapshot' && source.kind !== 'volume') throw invalid('source.kind', 'must be "snapshot" or "volume"');
    const pool = this.poolOf('source.ref.pool', source.ref?.pool);
    return { kind: source.kind, pool, backendId: checkBackendId('source.ref.backendId', source.ref.backendId) };
  }

  /**
   * Creates the pool's directories when missing and checks that none of them is a symlink.
   * The root is resolved with realpath (the admin may point it through a symlink); below it,
   * every directory the driver joins a backendId to is a real directory, so a checked backendId
   * (no '/', no '..') cannot lead outside the pool.
   */
  private layout(pool: DirPool): Promise<PoolLayout> {
    let layout = this.layouts.get(pool.spec.name);
    if (layout === undefined) {
      layout = this.checkLayout(pool);
      this.layouts.set(pool.spec.name, layout);
      layout.catch(() => this.layouts.delete(pool.spec.name));
    }
    return layout;
  }

  private async checkLayout(pool: DirPool): Promise<PoolLayout> {
    await mkdir(pool.root, { recursive: true, mode: 0o755 });
    const root = await realpath(pool.root);
    const layout: PoolLayout = layoutPaths(pool, root);
    await ensureDirectory(layout.volumes, 0o755, false);
    await ensureDirectory(layout.snapshots, 0o755, false);
    await ensureDirectory(layout.staging, 0o700, true);
    await ensureDirectory(path.join(root, '.meta'), 0o700, true);
    await ensureDirectory(layout.metaVolumes, 0o700, true);
    await ensureDirectory(layout.metaSnapshots, 0o700, true);
    return layout;
  }

  /**
   * The entries of a kind, sorted. Symlinks and files are not volumes (and are never followed);
   * names outside the safe set could not be handed back to the driver, so they are not offered.
   */
  private async entryIds(layout: PoolLayout, kind: Kind): Promise<string[]> {
    const entries = await readdir(kind === 'volume' ? layout.volumes : layout.snapshots, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && isValidBackendId(e.name)).map((e) => e.name).sort();
  }

  private entryPath(layout: PoolLayout, kind: Kind, id: string): string {
    const parent = kind === 'volume' ? layout.volumes : layout.snapshots;
    const resolved = path.resolve(parent, id);
    // Defence in depth: checkBackendId already makes this impossible.
    if (path.dirname(resolved) !== parent) throw invalid('backendId', `${JSON.stringify(id)} leaves the pool`);
    return resolved;
  }

  private metadataFile(layout: PoolLayout, kind: Kind, id: string): string {
    return metadataPath(kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots, id);
  }

  /** Whether the entry exists; a symlink or non-directory in its place is refused. */
  private async findEntry(layout: PoolLayout, kind: Kind, id: string, field: string): Promise<boolean> {
    let st;
    try {
      st = await lstat(this.entryPath(layout, kind, id));
    } catch (e) {
      if (isVanished(e)) return false;
      throw e;
    }
    if (st.isSymbolicLink()) throw invalid(field, `${kind} ${JSON.stringify(id)} is a symbolic link in the pool; refusing to follow it`);
    if (!st.isDirectory()) throw invalid(field, `${kind} ${JSON.stringify(id)} is not a directory`);
    return true;
  }

  private async requireEntry(layout: PoolLayout, kind: Kind, id: string, field: string): Promise<string> {
    if (!(await this.findEntry(layout, kind, id, field))) throw notFound(kind, id);
    return this.entryPath(layout, kind, id);
  }

  /** Existence only, without judging what is there (used by cleanup). */
  private async entryExists(layout: PoolLayout, kind: Kind, id: string): Promise<boolean> {
    try {
      await lstat(this.entryPath(layout, kind, id));
      return true;
    } catch (e) {
      if (isVanished(e)) return false;
      throw e;
    }
  }

  /** What the pool holds under `id`; unreadable metadata counts as none (the tree is measured). */
  private async describe(layout: PoolLayout, kind: Kind, id: string, signal: AbortSignal | undefined): Promise<BackendVolume> {
    const metadata = await readSoundMetadata(this.metadataFile(layout, kind, id));
    const sizeBytes = metadata?.sizeBytes ?? (await scanTree(this.entryPath(layout, kind, id), signal)).allocatedBytes;
    const volume: BackendVolume = { pool: layout.pool.spec.name, backendId: id, kind, sizeBytes };
    return metadata?.createdAt === undefined ? volume : { ...volume, createdAt: metadata.createdAt };
  }

  private async poolCapacity(layout: PoolLayout): Promise<PoolCapacity> {
    const fs = await statfs(layout.root);
    const backendTotal = fs.bsize * fs.blocks;
    const cap = layout.pool.spec.capacityBytes;
    const totalBytes = cap === undefined ? backendTotal : Math.min(backendTotal, cap);
    return { pool: layout.pool.spec.name, totalBytes, freeBytes: Math.min(fs.bavail * fs.bsize, totalBytes) };
  }

  /** Refuses a copy that cannot fit before writing anything (holes and reflinks need less). */
  private async checkRoomForCopy(layout: PoolLayout, scan: TreeScan): Promise<void> {
    const { freeBytes } = await this.poolCapacity(layout);
    if (scan.allocatedBytes > freeBytes) {
      throw new PollyError(
        'INSUFFICIENT_CAPACITY',
        `pool ${layout.pool.spec.name}: the copy needs ${formatBytes(scan.allocatedBytes)}, ${formatBytes(freeBytes)} free`,
        { pool: layout.pool.spec.name, neededBytes: scan.allocatedBytes, freeBytes },
      );
    }
  }

  /**
   * Builds something in a fresh `.staging/<id>.<random>` directory and publishes it. If building
   * or publishing fails or the signal aborts, the staging directory is removed, so nothing
   * half-made is visible. The abort is checked last before publishing; after that the operation
   * completes.
   */
  private async stage<T>(
    layout: PoolLayout,
    id: string,
    signal: AbortSignal | undefined,
    build: (dir: string) => Promise<T>,
    publish: (dir: string, built: T) => Promise<void>,
  ): Promise<void> {
    const dir = path.join(layout.staging, `${id}.${randomBytes(6).toString('hex')}`);
    this.stagingInUse.add(dir);
    try {
      const built = await build(dir);
      signal?.throwIfAborted();
      await publish(dir, built);
    } catch (e) {
      // The caller needs the original error; should this removal fail too, cleanupStaging
      // removes the leftover later.
      await removeTree(dir).catch(() => undefined);
      throw e;
    } finally {
      this.stagingInUse.delete(dir);
    }
  }

  /**
   * An empty volume needs no staging: mkdir is atomic and what it makes is empty. Its metadata
   * (one symlink, unsynced like every volume's) is added alongside, never over another entry's;
   * the directory gets its exact mode whatever the umask (a chmod only when the umask would take
   * bits away), then the shared sync of `volumes/` makes it durable. False when the entry exists
   * already.
   */
  private async createEmpty(layout: PoolLayout, id: string, metadata: DirMetadata): Promise<boolean> {
    const entry = this.entryPath(layout, 'volume', id);
    const file = this.metadataFile(layout, 'volume', id);
    const exact = ((processUmask() ?? 0o777) & NEW_VOLUME_MODE) === 0;
    const made = mkdir(entry, { mode: exact ? NEW_VOLUME_MODE : 0o700 }).then(
      () => true,
      (e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      },
    );
    const [created, recorded] = await Promise.allSettled([made, addMetadataUnsynced(file, metadata)]);
    if (created.status === 'fulfilled' && !created.value) {
      // Whatever is there was there before; if it had no metadata, this request's describes it.
      if (recorded.status === 'rejected') throw recorded.reason;
      return false;
    }
    try {
      if (created.status === 'rejected') throw created.reason;
      if (recorded.status === 'rejected') throw recorded.reason;
      // Metadata left by an earlier attempt that crashed before its mkdir: replace it.
      if (!recorded.value) await writeMetadataUnsynced(file, metadata);
      if (!exact) await chmod(entry, NEW_VOLUME_MODE);
      await this.directorySync.sync(layout.volumes);
      return true;
    } catch (e) {
      // Nothing half-made stays: the directory, if made, is still empty (nobody has it yet).
      if (created.status === 'fulfilled') await rmdir(entry).catch(() => undefined);
      await removeMetadata(file).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Makes a staged tree visible: metadata first, then the atomic rename, then the parent
   * directory is synced (shared with concurrent operations, see DirectorySync). A crash in between leaves
   * only orphan metadata, which cleanupStaging removes and a retry overwrites.
   *
   * A snapshot's metadata (its source's root attributes) is written atomically and durably. A
   * volume's is bookkeeping that the catalog also holds, so it skips the file's own fsync: should
   * a crash tear it, describe() ignores it and measures the tree (see docs/decisions.md D12).
   */
  private async publish(layout: PoolLayout, kind: Kind, id: string, dir: string, metadata: DirMetadata): Promise<void> {
    const file = this.metadataFile(layout, kind, id);
    if (kind === 'snapshot') await writeMetadata(file, metadata);
    else await writeMetadataUnsynced(file, metadata);
    await rename(dir, this.entryPath(layout, kind, id));
    await this.directorySync.sync(kind === 'volume' ? layout.volumes : layout.snapshots);
  }

  /**
   * delete / deleteSnapshot: rename the entry into `.staging` (it disappears atomically and
   * becomes unreachable for non-root users), drop its metadata, then remove the tree.
   */
  private remove(op: string, kind: Kind, ref: BackendRef, options: OperationOptions | undefined): Promise<void> {
    return this.run(op, options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const layout = await this.layout(pool);
      await this.locks.run([{ key: lockKey(pool, kind, id), mode: 'exclusive' }], options?.signal, async () => {
        const metadataFile = this.metadataFile(layout, kind, id);
        const entry = this.entryPath(layout, kind, id);
        // An empty directory goes with one atomic rmdir; anything else (a tree, a file or symlink
        // in its place, a mount point) takes the checked way below. An empty volume's removal is
        // not synced (D95): lost to a power loss, it comes back empty, without a record, and the
        // reconciler removes it (removeEmptyOrphan). A snapshot's removal is synced.
        if (await rmdir(entry).then(() => true, () => false)) {
          await Promise.all([kind === 'snapshot' ? this.directorySync.sync(layout.snapshots) : undefined, removeMetadata(metadataFile)]);
          return;
        }
        if (!(await this.findEntry(layout, kind, id, 'ref.backendId'))) {
          await removeMetadata(metadataFile);
          return;
        }
        // A non-root process may only move a directory it can write (snapshot roots are 0500).
        if (kind === 'snapshot') await withSafeDir(entry, (dir) => dir.chmod(0o700));
        const trash = path.join(layout.staging, `${id}.${randomBytes(6).toString('hex')}.deleting`);
        this.stagingInUse.add(trash);
        try {
          await rename(entry, trash);
          await this.directorySync.sync(kind === 'volume' ? layout.volumes : layout.snapshots);
          await removeMetadata(metadataFile);
          await removeTree(trash);
        } finally {
          this.stagingInUse.delete(trash);
        }
      });
    });
  }
}

/**
 * Creates the dir driver of a service. Checks the configuration now: every pool needs an
 * absolute `path`, and the pools' roots must not overlap.
 */
export function createDirDriver(service: ServiceSpec): DirDriver {
  const roots = new Map<string, string>();
  for (const pool of service.pools) {
    if (roots.has(pool.name)) throw invalid(`services.${service.name}.pools.${pool.name}`, 'is defined twice');
    roots.set(pool.name, poolRootPath(service, pool));
  }
  checkPoolRootsDisjoint([{ ...service, driver: 'dir' }]);
  return new DirDriver(service, roots);
}

const lockKey = (pool: DirPool, kind: Kind, id: string): string => `${pool.spec.name}\u0000${kind}\u0000${id}`;

/** Metadata, or undefined when there is none or it is torn (a crash during an unsynced write). */
async function readSoundMetadata(file: string): Promise<DirMetadata | undefined> {
  try {
    return await readMetadata(file);
  } catch (e) {
    if (e instanceof PollyError && e.code === 'BACKEND_ERROR') return undefined;
    throw e;
  }
}

function checkSize(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(field, 'must be a non-negative integer number of bytes');
  return value;
}

/**
 * mkdir when missing; refuse a symlink or file in its place. Private directories (staging,
 * metadata) are kept 0700 so that non-root users cannot reach work in progress.
 */
async function ensureDirectory(dir: string, mode: number, privateDir: boolean): Promise<void> {
  try {
    await mkdir(dir, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await lstat(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new PollyError('BACKEND_ERROR', `dir driver: ${dir} must be a directory, found ${st.isSymbolicLink() ? 'a symlink' : 'a file'}; refusing to use the pool`, {
      path: dir,
    });
  }
  if (privateDir && (st.mode & 0o077) !== 0) await withSafeDir(dir, (d) => d.chmod(0o700));
}

