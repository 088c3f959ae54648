import { invalid, PollyError } from '../../core/errors.js';
import type {
  AttachResult,
  BackendRef,
  NodeAccess,
  NodeAttachment,
  NodeSideDriver,
  NodeVolumeStats,
  OperationOptions,
} from '../../core/ports/storage-driver.js';
import { KeyedLock } from '../common/keyed-lock.js';
import { bindMount, checkMountFlags, checkNodePath, currentMount, identityOf, removeTarget, unmountAll } from './mount-ops.js';
import { fsLocation, readMountTable } from './mount-table.js';
import { statfsStats } from './statfs-stats.js';

/** What a driver whose volumes are directories tells the node side. */
export interface DirectoryVolumes {
  readonly driverName: string;
  /** The volume's directory (real path); NOT_FOUND when it does not exist, INVALID_ARGUMENT for a bad ref. */
  volumePath(ref: BackendRef, field: string): Promise<string>;
  /** For every pool, the real directory that holds its volumes, one level deep, named by backend id. */
  volumeParents(): Promise<ReadonlyArray<{ readonly pool: string; readonly dir: string }>>;
  /** Whether a directory name in a volume parent is a backend id of this driver. */
  isBackendId(name: string): boolean;
  /** Stats of the volume when the driver knows better than statfs (e.g. a quota). */
  volumeStats?(ref: BackendRef, mountPath: string): Promise<NodeVolumeStats | undefined>;
}

/**
 * Node side of drivers whose volumes are directory trees (dir, btrfs): no device to attach;
 * stage bind mounts the volume's directory at the staging path; publish bind mounts the staging
 * path at the target, read-only through a read-only bind remount. The mount table is the only
 * state: every call looks at it first, so repeats and restarts are safe.
 */
export class DirectoryNodeSide implements NodeSideDriver {
  private readonly locks = new KeyedLock();

  constructor(private readonly volumes: DirectoryVolumes) {}

  async attach(ref: BackendRef, access: NodeAccess): Promise<AttachResult> {
    this.checkAccess(access);
    await this.volumes.volumePath(ref, 'ref.backendId');
    return {};
  }

  async detach(ref: BackendRef): Promise<void> {
    // Nothing to release; the ref is still checked so a bad one is never silently accepted.
    await this.volumes.volumePath(ref, 'ref.backendId').catch((e: unknown) => {
      if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e;
    });
  }

  async stage(ref: BackendRef, stagingPath: string, access: NodeAccess, options?: OperationOptions): Promise<void> {
    const staging = checkNodePath('stagingPath', stagingPath);
    this.checkAccess(access);
    const flags = checkMountFlags('mountFlags', access.mountFlags);
    const source = await this.volumes.volumePath(ref, 'ref.backendId');
    await this.locks.run([{ key: staging, mode: 'exclusive' }], options?.signal, () =>
      bindMount(source, staging, { readOnly: access.readonly, flags, kind: 'dir', field: 'stagingPath', signal: options?.signal }),
    );
  }

  async unstage(ref: BackendRef, stagingPath: string, options?: OperationOptions): Promise<void> {
    const staging = checkNodePath('stagingPath', stagingPath);
    await this.checkRef(ref);
    await this.locks.run([{ key: staging, mode: 'exclusive' }], options?.signal, () => unmountAll(staging, options?.signal));
  }

  async publish(ref: BackendRef, stagingPath: string, targetPath: string, access: NodeAccess, options?: OperationOptions): Promise<void> {
    const staging = checkNodePath('stagingPath', stagingPath);
    const target = checkNodePath('targetPath', targetPath);
    this.checkAccess(access);
    const flags = checkMountFlags('mountFlags', access.mountFlags);
    await this.requireStaged(ref, staging);
    await this.locks.run([{ key: target, mode: 'exclusive' }], options?.signal, () =>
      bindMount(staging, target, { readOnly: access.readonly, flags, kind: 'dir', field: 'targetPath', signal: options?.signal }),
    );
  }

  async unpublish(ref: BackendRef, targetPath: string, options?: OperationOptions): Promise<void> {
    const target = checkNodePath('targetPath', targetPath);
    await this.checkRef(ref);
    await this.locks.run([{ key: target, mode: 'exclusive' }], options?.signal, async () => {
      await unmountAll(target, options?.signal);
      await removeTarget(target);
    });
  }

  async expandOnNode(ref: BackendRef, mountPath: string): Promise<void> {
    // A directory has no device or filesystem of its own to grow; the size lives in the driver.
    checkNodePath('path', mountPath);
    await this.volumes.volumePath(ref, 'ref.backendId');
  }

  async stats(ref: BackendRef, mountPath: string): Promise<NodeVolumeStats> {
    const file = checkNodePath('path', mountPath);
    await this.requireMounted(ref, file, 'path');
    return (await this.volumes.volumeStats?.(ref, file)) ?? statfsStats(file);
  }

  async attachedVolumes(): Promise<NodeAttachment[]> {
    const table = await readMountTable();
    const found = new Map<string, { pool: string; backendId: string; mountPaths: string[] }>();
    for (const { pool, dir } of await this.volumes.volumeParents()) {
      const loc = fsLocation(table, dir);
      if (!loc) continue;
      const prefix = loc.fsPath === '/' ? '/' : `${loc.fsPath}/`;
      for (const m of table) {
        if (m.device !== loc.device || !m.root.startsWith(prefix)) continue;
        const backendId = m.root.slice(prefix.length);
        if (backendId.includes('/') || !this.volumes.isBackendId(backendId)) continue;
        const key = `${pool}\u0000${backendId}`;
        const entry = found.get(key) ?? { pool, backendId, mountPaths: [] };
        entry.mountPaths.push(m.mountPoint);
        found.set(key, entry);
      }
    }
    return [...found.values()];
  }

  private checkAccess(access: NodeAccess): void {
    if (access?.mode === 'block') {
      throw new PollyError('UNSUPPORTED', `the ${this.volumes.driverName} driver has no block volumes; use mount access`, { field: 'access.mode' });
    }
    if (access?.mode !== 'mount') throw invalid('access.mode', 'must be "mount" or "block"');
  }

  private async checkRef(ref: BackendRef): Promise<void> {
    await this.volumes.volumePath(ref, 'ref.backendId').catch((e: unknown) => {
      if (!(e instanceof PollyError && e.code === 'NOT_FOUND')) throw e;
    });
  }

  private async requireMounted(ref: BackendRef, mountPath: string, field: string): Promise<void> {
    const identity = await identityOf(await this.volumes.volumePath(ref, 'ref.backendId'));
    const mounted = await currentMount(mountPath);
    if (!mounted || mounted.device !== identity.device || mounted.root !== identity.root) {
      throw new PollyError('NOT_FOUND', `${field}: volume ${ref.backendId} is not mounted at ${mountPath}`, { field, path: mountPath });
    }
  }

  private requireStaged(ref: BackendRef, staging: string): Promise<void> {
    return this.requireMounted(ref, staging, 'stagingPath').catch((e: unknown) => {
      if (e instanceof PollyError && e.code === 'NOT_FOUND') {
        throw new PollyError('FAILED_PRECONDITION', `stagingPath: volume ${ref.backendId} is not staged at ${staging}; stage it first`, { field: 'stagingPath' });
      }
      throw e;
    });
  }
}
