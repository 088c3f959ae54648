import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, realpath, rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { invalid, notFound, PollyError } from '../../core/errors.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type {
  BackendRef,
  BackendVolume,
  CreateVolumeRequest,
  DriverCapabilities,
  NodeSideDriver,
  NodeVolumeStats,
  OperationOptions,
  PoolCapacity,
  StorageDriver,
} from '../../core/ports/storage-driver.js';
import { toDriverError } from '../common/driver-error.js';
import { KeyedLock, type LockRequest } from '../common/keyed-lock.js';
import { syncDirectory } from '../common/write-file-atomic.js';
import { checkBackendId, isValidBackendId } from '../dir/check-backend-id.js';
import { checkPoolRootsDisjoint } from '../dir/check-pool-roots-disjoint.js';
import { metadataPath, readMetadata, removeMetadata, writeMetadata, type DirMetadata } from '../dir/dir-metadata.js';
import { poolRootPath } from '../dir/pool-root-path.js';
import { DirectoryNodeSide } from '../node/directory-node-side.js';
import { identityOf } from '../node/mount-ops.js';
import { readMountTable } from '../node/mount-table.js';
import { statfsStats } from '../node/statfs-stats.js';
import {
  clearStaleQgroups, createSubvolume, deleteSubvolume, destroyQgroup, limitQgroup, qgroupUsage, requireQuotas, snapshotSubvolume,
} from './btrfs-tool.js';

type Kind = 'volume' | 'snapshot';

/** statfs f_type of btrfs. */
const BTRFS_SUPER_MAGIC = 0x9123683e;
/** Inode number of every subvolume's root directory. */
const SUBVOLUME_INODE = 256;

interface BtrfsPool {
  readonly spec: PoolSpec;
  readonly root: string;
}

interface BtrfsLayout {
  readonly pool: BtrfsPool;
  readonly root: string;
  readonly volumes: string;
  readonly snapshots: string;
  readonly staging: string;
  readonly metaVolumes: string;
  readonly metaSnapshots: string;
}

/**
 * The btrfs driver: a pool is a directory on a mounted btrfs filesystem with quotas enabled.
 *
 *   <root>/volumes/<backendId>     a volume: a subvolume whose qgroup's referenced limit is its size
 *   <root>/snapshots/<backendId>   a snapshot: a read-only subvolume snapshot (O(1))
 *   <root>/.meta/{volumes,snapshots}/<backendId>.json   size, source, creation time
 *   <root>/.staging/               volumes being made (created and limited, then renamed in)
 *
 * Clones are writable snapshots; expand raises the limit; usage comes from the qgroup. On the
 * node a volume is a directory: stage and publish are bind mounts (DirectoryNodeSide).
 */
export class BtrfsDriver implements StorageDriver {
  readonly name = 'btrfs';
  readonly capabilities: DriverCapabilities = Object.freeze({ snapshot: true, clone: true, expand: true, block: false, nodeLocal: false });
  readonly node: NodeSideDriver;

  private readonly btrfsPools: ReadonlyMap<string, BtrfsPool>;
  private readonly locks = new KeyedLock();
  private readonly stagingInUse = new Set<string>();
  private readonly checkedPools = new Set<string>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    readonly service: ServiceSpec,
    pools: readonly BtrfsPool[],
  ) {
    this.btrfsPools = new Map(pools.map((p) => [p.spec.name, p]));
    this.node = new DirectoryNodeSide({
      driverName: 'btrfs',
      isBackendId: isValidBackendId,
      volumePath: async (ref, field) => {
        const layout = await this.layout(this.poolOf('ref.pool', ref?.pool));
        return this.requireEntry(layout, 'volume', checkBackendId(field, ref.backendId), field);
      },
      volumeParents: async () => {
        const out: { pool: string; dir: string }[] = [];
        for (const pool of this.btrfsPools.values()) out.push({ pool: pool.spec.name, dir: (await this.layout(pool)).volumes });
        return out;
      },
      volumeStats: (ref, mountPath) => this.volumeStats(ref, mountPath),
    });
  }

  pools(): readonly string[] {
    return [...this.btrfsPools.keys()];
  }

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    return this.run('capacity', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      const fs = await statfs(layout.root);
      const backendTotal = fs.bsize * fs.blocks;
      const cap = layout.pool.spec.capacityBytes;
      const totalBytes = cap === undefined ? backendTotal : Math.min(backendTotal, cap);
      return { pool: layout.pool.spec.name, totalBytes, freeBytes: Math.min(fs.bavail * fs.bsize, totalBytes) };
    });
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
      if (source && sourceLayout && sourceLayout.root !== layout.root && !(await sameFilesystem(sourceLayout.root, layout.root))) {
        throw invalid('source.ref.pool', `pool ${source.pool.spec.name} is on another btrfs filesystem; snapshots cannot cross filesystems`);
      }
      const locks: LockRequest[] = [{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }];
      if (source) locks.push({ key: lockKey(source.pool, source.kind, source.backendId), mode: 'shared' });
      return this.locks.run(locks, signal, async () => {
        if (await this.findEntry(layout, 'volume', id, 'volumeId')) return this.describe(layout, 'volume', id);
        let metadata: DirMetadata = { version: 1, kind: 'volume', sizeBytes, createdAt: Date.now() };
        let sourcePath: string | undefined;
        if (source && sourceLayout) {
          sourcePath = await this.requireEntry(sourceLayout, source.kind, source.backendId, 'source.ref.backendId');
          const sourceSize = (await this.describe(sourceLayout, source.kind, source.backendId)).sizeBytes;
          if (sizeBytes < sourceSize) {
            throw new PollyError('OUT_OF_RANGE', `sizeBytes: ${sizeBytes} is smaller than the source ${source.kind} "${source.backendId}" (${sourceSize} bytes)`, {
              field: 'sizeBytes', sourceBytes: sourceSize,
            });
          }
          metadata = { ...metadata, source: { kind: source.kind, pool: source.pool.spec.name, backendId: source.backendId } };
        }
        const staged = path.join(layout.staging, `${id}.${randomBytes(6).toString('hex')}`);
        this.stagingInUse.add(staged);
        try {
          if (sourcePath) await snapshotSubvolume(sourcePath, staged, false, signal);
          else await createSubvolume(staged, signal);
          await limitQgroup(staged, sizeBytes, signal);
          signal?.throwIfAborted();
          await writeMetadata(this.metadataFile(layout, 'volume', id), metadata);
          await rename(staged, this.entryPath(layout, 'volume', id));
          await syncDirectory(layout.volumes);
        } catch (e) {
          await this.removeSubvolume(layout, staged).catch(() => undefined);
          throw e;
        } finally {
          this.stagingInUse.delete(staged);
        }
        if (sourcePath) await reportShared(sourcePath, options);
        return this.describe(layout, 'volume', id);
      });
    });
  }

  async delete(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.remove('delete', 'volume', ref, options);
  }

  async snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('snapshot', options, async () => {
      const pool = this.poolOf('source.pool', source?.pool);
      const volumeId = checkBackendId('source.backendId', source.backendId);
      const id = checkBackendId('snapshotId', snapshotId);
      const layout = await this.layout(pool);
      const locks: LockRequest[] = [
        { key: lockKey(pool, 'snapshot', id), mode: 'exclusive' },
        { key: lockKey(pool, 'volume', volumeId), mode: 'shared' },
      ];
      return this.locks.run(locks, options?.signal, async () => {
        if (await this.findEntry(layout, 'snapshot', id, 'snapshotId')) return this.describe(layout, 'snapshot', id);
        const volumePath = await this.requireEntry(layout, 'volume', volumeId, 'source.backendId');
        const { sizeBytes } = await this.describe(layout, 'volume', volumeId);
        await writeMetadata(this.metadataFile(layout, 'snapshot', id), {
          version: 1, kind: 'snapshot', sizeBytes, createdAt: Date.now(), source: { kind: 'volume', pool: pool.spec.name, backendId: volumeId },
        });
        // One atomic, read-only snapshot straight at its place (a read-only subvolume cannot be renamed).
        try {
          await snapshotSubvolume(volumePath, this.entryPath(layout, 'snapshot', id), true, options?.signal);
        } catch (e) {
          await removeMetadata(this.metadataFile(layout, 'snapshot', id)).catch(() => undefined);
          throw e;
        }
        await reportShared(volumePath, options);
        return this.describe(layout, 'snapshot', id);
      });
    });
  }

  async deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.remove('deleteSnapshot', 'snapshot', ref, options);
  }

  /** Raises the qgroup limit; nothing changes on the node (a bind mount shows the new room at once). */
  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('expand', options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const size = checkSize('sizeBytes', sizeBytes);
      const layout = await this.layout(pool);
      return this.locks.run([{ key: lockKey(pool, 'volume', id), mode: 'exclusive' }], options?.signal, async () => {
        const volumePath = await this.requireEntry(layout, 'volume', id, 'ref.backendId');
        const current = await this.describe(layout, 'volume', id);
        if (size < current.sizeBytes) {
          throw new PollyError('OUT_OF_RANGE', `sizeBytes: cannot shrink volume "${id}" from ${current.sizeBytes} to ${size} bytes`, {
            field: 'sizeBytes', currentBytes: current.sizeBytes, requestedBytes: size,
          });
        }
        if (size === current.sizeBytes) return current;
        await limitQgroup(volumePath, size, options?.signal);
        const file = this.metadataFile(layout, 'volume', id);
        const metadata = (await readMetadata(file)) ?? { version: 1 as const, kind: 'volume' as const, sizeBytes: size };
        await writeMetadata(file, { ...metadata, sizeBytes: size });
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
          if (!entry.isDirectory() || !isValidBackendId(entry.name)) continue;
          try {
            if (!(await this.findEntry(layout, kind, entry.name, 'backendId'))) continue;
            found.push(await this.describe(layout, kind, entry.name));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof PollyError && e.code === 'INVALID_ARGUMENT')) throw e;
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
      const volumePath = await this.requireEntry(await this.layout(pool), 'volume', id, 'ref.backendId');
      return (await qgroupUsage(volumePath, options?.signal)).referencedBytes;
    });
  }

  /** Deletes subvolumes and files left in `.staging/`, metadata without a subvolume, and stale qgroups. */
  async cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return this.run('cleanup', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      let removed = 0;
      for (const name of await readdir(layout.staging)) {
        const leftover = path.join(layout.staging, name);
        if (this.stagingInUse.has(leftover)) continue;
        await this.removeSubvolume(layout, leftover);
        removed++;
      }
      for (const kind of ['volume', 'snapshot'] as const) {
        const metaDir = kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots;
        for (const name of await readdir(metaDir)) {
          const match = /^(.+)\.json(\.tmp-[0-9a-f]+)?$/.exec(name);
          const id = match?.[1];
          if (!id || !isValidBackendId(id) || this.locks.isBusy(lockKey(layout.pool, kind, id))) continue;
          if (match[2] === undefined && (await this.findEntry(layout, kind, id, 'backendId').catch(() => true))) continue;
          await removeMetadata(path.join(metaDir, name));
          removed++;
        }
      }
      await clearStaleQgroups(layout.root);
      return removed;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }

  // -------------------------------------------------------------------------------------------

  private run<T>(op: string, options: { readonly signal?: AbortSignal | undefined } | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PollyError('UNAVAILABLE', `btrfs driver of service "${this.service.name}" is closed`));
    const signal = options?.signal;
    const task = (async () => {
      try {
        signal?.throwIfAborted();
        return await fn();
      } catch (e) {
        throw toDriverError('btrfs', e, op, signal);
      }
    })();
    this.running.add(task);
    const forget = (): void => void this.running.delete(task);
    task.then(forget, forget);
    return task;
  }

  /** Volume stats from the qgroup: its limit is the size, its referenced bytes the use. */
  private async volumeStats(ref: BackendRef, mountPath: string): Promise<NodeVolumeStats> {
    const layout = await this.layout(this.poolOf('ref.pool', ref?.pool));
    const volumePath = await this.requireEntry(layout, 'volume', checkBackendId('ref.backendId', ref.backendId), 'ref.backendId');
    const [usage, fs] = await Promise.all([qgroupUsage(volumePath), statfsStats(mountPath)]);
    const totalBytes = usage.limitBytes ?? fs.totalBytes;
    const usedBytes = Math.min(usage.referencedBytes, totalBytes);
    return { ...fs, totalBytes, usedBytes, availableBytes: Math.max(0, Math.min(totalBytes - usedBytes, fs.availableBytes)) };
  }

  private poolOf(field: string, pool: unknown): BtrfsPool {
    const found = typeof pool === 'string' ? this.btrfsPools.get(pool) : undefined;
    if (!found) throw invalid(field, `unknown pool ${JSON.stringify(pool)} of service "${this.service.name}"; known: ${this.pools().join(', ')}`);
    return found;
  }

  private checkSource(source: NonNullable<CreateVolumeRequest['source']>): { kind: Kind; pool: BtrfsPool; backendId: string } {
    if (typeof source !== 'object' || source === null) throw invalid('source', 'must be { kind, ref }');
    if (source.kind !== 'snapshot' && source.kind !== 'volume') throw invalid('source.kind', 'must be "snapshot" or "volume"');
    const pool = this.poolOf('source.ref.pool', source.ref?.pool);
    return { kind: source.kind, pool, backendId: checkBackendId('source.ref.backendId', source.ref.backendId) };
  }

  /** The pool's directories, made when missing; the first use checks the filesystem is btrfs with quotas. */
  private async layout(pool: BtrfsPool): Promise<BtrfsLayout> {
    const field = `services.${this.service.name}.pools.${pool.spec.name}.path`;
    await mkdir(pool.root, { recursive: true, mode: 0o755 });
    const root = await realpath(pool.root);
    if (!this.checkedPools.has(pool.spec.name)) {
      const fs = await statfs(root);
      if (fs.type !== BTRFS_SUPER_MAGIC) {
        throw new PollyError('FAILED_PRECONDITION', `${field}: ${root} is not on a btrfs filesystem (statfs type 0x${fs.type.toString(16)})`, { field });
      }
      await requireQuotas(root, field);
      this.checkedPools.add(pool.spec.name);
    }
    const layout: BtrfsLayout = {
      pool,
      root,
      volumes: path.join(root, 'volumes'),
      snapshots: path.join(root, 'snapshots'),
      staging: path.join(root, '.staging'),
      metaVolumes: path.join(root, '.meta', 'volumes'),
      metaSnapshots: path.join(root, '.meta', 'snapshots'),
    };
    for (const dir of [layout.volumes, layout.snapshots, layout.staging, path.join(root, '.meta'), layout.metaVolumes, layout.metaSnapshots]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const st = await lstat(dir);
      if (!st.isDirectory()) throw new PollyError('BACKEND_ERROR', `btrfs driver: ${dir} must be a directory; refusing to use the pool`, { path: dir });
    }
    return layout;
  }

  private entryPath(layout: BtrfsLayout, kind: Kind, id: string): string {
    return path.join(kind === 'volume' ? layout.volumes : layout.snapshots, id);
  }

  private metadataFile(layout: BtrfsLayout, kind: Kind, id: string): string {
    return metadataPath(kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots, id);
  }

  /** Whether the subvolume exists; anything else in its place (a symlink, a plain directory) is refused. */
  private async findEntry(layout: BtrfsLayout, kind: Kind, id: string, field: string): Promise<boolean> {
    let st;
    try {
      st = await lstat(this.entryPath(layout, kind, id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    if (!st.isDirectory() || st.ino !== SUBVOLUME_INODE) throw invalid(field, `${kind} ${JSON.stringify(id)} is not a btrfs subvolume; refusing to use it`);
    return true;
  }

  private async requireEntry(layout: BtrfsLayout, kind: Kind, id: string, field: string): Promise<string> {
    if (!(await this.findEntry(layout, kind, id, field))) throw notFound(kind, id);
    return this.entryPath(layout, kind, id);
  }

  private async describe(layout: BtrfsLayout, kind: Kind, id: string): Promise<BackendVolume> {
    const metadata = await readMetadata(this.metadataFile(layout, kind, id));
    // An unmanaged subvolume: its limit, else what it references.
    let sizeBytes = metadata?.sizeBytes;
    if (sizeBytes === undefined) {
      const usage = await qgroupUsage(this.entryPath(layout, kind, id));
      sizeBytes = usage.limitBytes ?? usage.referencedBytes;
    }
    const volume: BackendVolume = { pool: layout.pool.spec.name, backendId: id, kind, sizeBytes };
    return metadata?.createdAt === undefined ? volume : { ...volume, createdAt: metadata.createdAt };
  }

  /** Deletes a subvolume (or removes a plain leftover) and its qgroup. */
  private async removeSubvolume(layout: BtrfsLayout, target: string): Promise<void> {
    let st;
    try {
      st = await lstat(target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (st.isDirectory() && st.ino === SUBVOLUME_INODE) {
      const subvolId = await deleteSubvolume(target);
      await destroyQgroup(subvolId, layout.root);
    } else {
      await rm(target, { recursive: true, force: true });
    }
  }

  private remove(op: string, kind: Kind, ref: BackendRef, options: OperationOptions | undefined): Promise<void> {
    return this.run(op, options, async () => {
      const pool = this.poolOf('ref.pool', ref?.pool);
      const id = checkBackendId('ref.backendId', ref.backendId);
      const layout = await this.layout(pool);
      await this.locks.run([{ key: lockKey(pool, kind, id), mode: 'exclusive' }], options?.signal, async () => {
        const metaFile = this.metadataFile(layout, kind, id);
        if (!(await this.findEntry(layout, kind, id, 'ref.backendId'))) {
          await removeMetadata(metaFile);
          return;
        }
        const entry = this.entryPath(layout, kind, id);
        const identity = await identityOf(entry);
        const mounted = (await readMountTable()).filter((m) => m.device === identity.device && m.root === identity.root).map((m) => m.mountPoint);
        if (mounted.length > 0) {
          throw new PollyError('FAILED_PRECONDITION', `${kind} ${id} is mounted on this node at ${mounted.join(', ')}; unpublish and unstage it first`, { mountPaths: mounted });
        }
        await this.removeSubvolume(layout, entry);
        await removeMetadata(metaFile);
      });
    });
  }
}

/** A snapshot copies nothing: its one progress event is the source's referenced bytes, all shared at once. */
async function reportShared(source: string, options: OperationOptions | undefined): Promise<void> {
  if (!options?.onProgress) return;
  const { referencedBytes } = await qgroupUsage(source, options.signal);
  options.onProgress({ doneBytes: referencedBytes, totalBytes: referencedBytes });
}

async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([identityOf(a), identityOf(b)]);
  return sa.device === sb.device;
}

/** Creates the btrfs driver of a service; every pool needs an absolute `path` on a btrfs filesystem. */
export function createBtrfsDriver(service: ServiceSpec): BtrfsDriver {
  const pools = service.pools.map((spec) => ({ spec, root: poolRootPath(service, spec) }));
  checkPoolRootsDisjoint([{ ...service, driver: 'btrfs' }]);
  return new BtrfsDriver(service, pools);
}

const lockKey = (pool: BtrfsPool, kind: Kind, id: string): string => `${pool.spec.name}\u0000${kind}\u0000${id}`;

function checkSize(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalid(field, 'must be a positive integer number of bytes');
  return value;
}
