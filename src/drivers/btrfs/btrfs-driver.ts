import { randomBytes } from 'node:crypto';
import { rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { invalid, PollyError } from '../../core/errors.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type {
  BackendRef,
  BackendVolume,
  CreateVolumeRequest,
  DriverCapabilities,
  NodeSideDriver,
  NodeVolumeStats,
  OperationOptions,
  StorageDriver,
} from '../../core/ports/storage-driver.js';
import { EntryPoolDriver, type EntryKind, type EntryLayout } from '../common/entry-pool-driver.js';
import { lstatIfExists } from '../common/lstat-if-exists.js';
import { syncDirectory } from '../common/write-file-atomic.js';
import { checkBackendId, isValidBackendId } from '../dir/check-backend-id.js';
import { checkPoolRootsDisjoint } from '../dir/check-pool-roots-disjoint.js';
import { readMetadata, removeMetadata, writeMetadata, type DirMetadata } from '../dir/dir-metadata.js';
import { poolRootPath } from '../dir/pool-root-path.js';
import { DirectoryNodeSide } from '../node/directory-node-side.js';
import { identityOf } from '../node/mount-ops.js';
import { readMountTable } from '../node/mount-table.js';
import { statfsStats } from '../node/statfs-stats.js';
import {
  clearStaleQgroups, createSubvolume, deleteSubvolume, destroyQgroup, limitQgroup, qgroupUsage, requireQuotas, snapshotSubvolume,
} from './btrfs-tool.js';

type Kind = EntryKind;

/** statfs f_type of btrfs. */
const BTRFS_SUPER_MAGIC = 0x9123683e;
/** Inode number of every subvolume's root directory. */
const SUBVOLUME_INODE = 256;

interface BtrfsPool {
  readonly spec: PoolSpec;
  readonly root: string;
}

type BtrfsLayout = EntryLayout<BtrfsPool>;

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
export class BtrfsDriver extends EntryPoolDriver<BtrfsPool> implements StorageDriver {
  readonly name = 'btrfs';
  readonly capabilities: DriverCapabilities = Object.freeze({ snapshot: true, clone: true, expand: true, block: false, nodeLocal: false });
  readonly node: NodeSideDriver;

  private readonly checkedPools = new Set<string>();

  constructor(service: ServiceSpec, pools: readonly BtrfsPool[]) {
    super(service, pools, 'btrfs');
    this.node = new DirectoryNodeSide({
      driverName: 'btrfs',
      isBackendId: isValidBackendId,
      volumePath: (ref, field) => this.volumeEntry(ref, field),
      volumeParents: () => this.volumeDirs(),
      volumeStats: (ref, mountPath) => this.volumeStats(ref, mountPath),
    });
  }

  async create(request: CreateVolumeRequest, options?: OperationOptions): Promise<BackendVolume> {
    return this.run('create', options, async () => {
      const signal = options?.signal;
      const { id, sizeBytes, layout, source, locks } = await this.prepareCreate(request, checkSize);
      if (source && source.layout.root !== layout.root && !(await sameFilesystem(source.layout.root, layout.root))) {
        throw invalid('source.ref.pool', `pool ${source.pool.spec.name} is on another btrfs filesystem; snapshots cannot cross filesystems`);
      }
      return this.locks.run(locks, signal, async () => {
        if (await this.findEntry(layout, 'volume', id, 'volumeId')) return this.describe(layout, 'volume', id);
        let metadata: DirMetadata = { version: 1, kind: 'volume', sizeBytes, createdAt: Date.now() };
        let sourcePath: string | undefined;
        if (source) {
          sourcePath = await this.requireEntry(source.layout, source.kind, source.backendId, 'source.ref.backendId');
          const sourceSize = (await this.describe(source.layout, source.kind, source.backendId)).sizeBytes;
          this.checkFitsSource(source, sourceSize, sizeBytes);
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

  async snapshot(snapshotId: string, source: BackendRef, options?: OperationOptions): Promise<BackendVolume> {
    return this.snapshotEntry(snapshotId, source, options, 'shared', async (layout, id, volumeId, volumePath) => {
      const { sizeBytes } = await this.describe(layout, 'volume', volumeId);
      const metadataFile = this.metadataFile(layout, 'snapshot', id);
      await writeMetadata(metadataFile, {
        version: 1, kind: 'snapshot', sizeBytes, createdAt: Date.now(), source: { kind: 'volume', pool: layout.pool.spec.name, backendId: volumeId },
      });
      // One atomic, read-only snapshot straight at its place (a read-only subvolume cannot be renamed).
      try {
        await snapshotSubvolume(volumePath, this.entryPath(layout, 'snapshot', id), true, options?.signal);
      } catch (e) {
        await removeMetadata(metadataFile).catch(() => undefined);
        throw e;
      }
      await reportShared(volumePath, options);
    });
  }

  /** Raises the qgroup limit; nothing changes on the node (a bind mount shows the new room at once). */
  async expand(ref: BackendRef, sizeBytes: number, options?: OperationOptions): Promise<BackendVolume> {
    const size = checkSize('sizeBytes', sizeBytes);
    return this.expandEntry(ref, size, options, async (layout, volumePath, id) => {
      await limitQgroup(volumePath, size, options?.signal);
      const file = this.metadataFile(layout, 'volume', id);
      const metadata = (await readMetadata(file)) ?? { version: 1 as const, kind: 'volume' as const, sizeBytes: size };
      await writeMetadata(file, { ...metadata, sizeBytes: size });
    });
  }

  async usage(ref: BackendRef, options?: OperationOptions): Promise<number | undefined> {
    return this.usageOf(ref, options, async (volumePath) => (await qgroupUsage(volumePath, options?.signal)).referencedBytes);
  }

  /** Deletes subvolumes and files left in `.staging/`, metadata without a subvolume, and stale qgroups. */
  async cleanup(pool: string, options?: OperationOptions): Promise<number> {
    return this.run('cleanup', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      const removed = await this.removeLeftovers(layout, (leftover) => this.removeSubvolume(layout, leftover));
      await clearStaleQgroups(layout.root);
      return removed;
    });
  }

  protected entryIdOf(name: string): string | undefined {
    return name;
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

  /** The pool's directories, made when missing; the first use checks the filesystem is btrfs with quotas. */
  protected async layout(pool: BtrfsPool): Promise<BtrfsLayout> {
    const field = `services.${this.service.name}.pools.${pool.spec.name}.path`;
    const layout = await this.makeLayout(pool);
    if (!this.checkedPools.has(pool.spec.name)) {
      const fs = await statfs(layout.root);
      if (fs.type !== BTRFS_SUPER_MAGIC) {
        throw new PollyError('FAILED_PRECONDITION', `${field}: ${layout.root} is not on a btrfs filesystem (statfs type 0x${fs.type.toString(16)})`, { field });
      }
      await requireQuotas(layout.root, field);
      this.checkedPools.add(pool.spec.name);
    }
    return layout;
  }

  protected entryPath(layout: BtrfsLayout, kind: Kind, id: string): string {
    return path.join(kind === 'volume' ? layout.volumes : layout.snapshots, id);
  }

  /** Whether the subvolume exists; anything else in its place (a symlink, a plain directory) is refused. */
  protected async findEntry(layout: BtrfsLayout, kind: Kind, id: string, field: string): Promise<boolean> {
    const st = await lstatIfExists(this.entryPath(layout, kind, id));
    if (!st) return false;
    if (!st.isDirectory() || st.ino !== SUBVOLUME_INODE) throw invalid(field, `${kind} ${JSON.stringify(id)} is not a btrfs subvolume; refusing to use it`);
    return true;
  }

  protected async describe(layout: BtrfsLayout, kind: Kind, id: string): Promise<BackendVolume> {
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
    const st = await lstatIfExists(target);
    if (!st) return;
    if (st.isDirectory() && st.ino === SUBVOLUME_INODE) {
      const subvolId = await deleteSubvolume(target);
      await destroyQgroup(subvolId, layout.root);
    } else {
      await rm(target, { recursive: true, force: true });
    }
  }

  /** A subvolume that is mounted on this node is in use and is not deleted. */
  protected async removeExisting(layout: BtrfsLayout, kind: Kind, entry: string, id: string): Promise<void> {
    const identity = await identityOf(entry);
    const mounted = (await readMountTable()).filter((m) => m.device === identity.device && m.root === identity.root).map((m) => m.mountPoint);
    if (mounted.length > 0) {
      throw new PollyError('FAILED_PRECONDITION', `${kind} ${id} is mounted on this node at ${mounted.join(', ')}; unpublish and unstage it first`, { mountPaths: mounted });
    }
    await this.removeSubvolume(layout, entry);
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

function checkSize(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalid(field, 'must be a positive integer number of bytes');
  return value;
}
