import path from 'node:path';
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
import { checkFilesystemBeforeMount, growExt4Offline, growFilesystem, type Filesystem } from '../node/filesystems.js';
import { attachLoop, detachLoop, listLoops, loopsFor, refreshLoop, type LoopDevice } from '../node/loop-devices.js';
import { bindMount, checkMountFlags, checkNodePath, currentMount, mountDevice, removeTarget, unmountAll } from '../node/mount-ops.js';
import { isReadOnlyMount, readMountTable, type MountEntry } from '../node/mount-table.js';
import { statfsStats } from '../node/statfs-stats.js';
import type { ImageDriver } from './image-driver.js';
import type { ImageMetadata } from './image-metadata.js';

/** Whether a mount shows the loop device: its filesystem, or a bind mount of the device node (block access). */
const showsLoop = (m: MountEntry, loop: LoopDevice): boolean =>
  m.device === loop.majMin || (m.fsType === 'devtmpfs' && m.root === `/${path.basename(loop.device)}`);

/**
 * Node side of the image driver. Attach = a loop device on the image (`losetup`, read-only for
 * read-only access); stage = fsck by the pool's policy, mount at the staging path, grow the
 * filesystem to the device; publish = bind mount (of the staging path, or of the device node
 * for block access). The kernel's loop devices and mount table are the only state.
 */
export class ImageNodeSide implements NodeSideDriver {
  private readonly locks = new KeyedLock();

  constructor(private readonly driver: ImageDriver) {}

  attach(ref: BackendRef, access: NodeAccess, options?: OperationOptions): Promise<AttachResult> {
    return this.driver.run('attach', options, async () => {
      checkAccessMode(access);
      const { file, meta } = await this.driver.volumeImage(ref, 'ref.backendId');
      if (access.mode === 'mount' && meta.format === 'raw') throw rawNeedsBlock(ref);
      return this.locks.run([{ key: file, mode: 'exclusive' }], options?.signal, async () => {
        const existing = (await loopsFor(file))[0];
        if (existing) {
          if (existing.readOnly && !access.readonly) {
            throw new PollyError('FAILED_PRECONDITION', `volume ${ref.backendId} is attached read-only on this node (${existing.device}); detach it first to attach it writable`, {
              device: existing.device,
            });
          }
          return { devicePath: existing.device };
        }
        return { devicePath: (await attachLoop(file, access.readonly, options?.signal)).device };
      });
    });
  }

  detach(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.driver.run('detach', options, async () => {
      const image = await this.image(ref);
      if (!image) return;
      await this.locks.run([{ key: image.file, mode: 'exclusive' }], options?.signal, async () => {
        const table = await readMountTable();
        for (const loop of await loopsFor(image.file)) {
          const mounted = table.filter((m) => showsLoop(m, loop)).map((m) => m.mountPoint);
          if (mounted.length > 0) {
            throw new PollyError('FAILED_PRECONDITION', `volume ${ref.backendId} is still mounted at ${mounted.join(', ')}; unpublish and unstage it first`, { mountPaths: mounted });
          }
          await detachLoop(loop.device, options?.signal);
        }
      });
    });
  }

  stage(ref: BackendRef, stagingPath: string, access: NodeAccess, options?: OperationOptions): Promise<void> {
    return this.driver.run('stage', options, async () => {
      const staging = checkNodePath('stagingPath', stagingPath);
      checkAccessMode(access);
      const flags = checkMountFlags('mountFlags', access.mountFlags);
      const { file, meta, pool } = await this.driver.volumeImage(ref, 'ref.backendId');
      const loop = await this.requireLoop(ref, file);
      if (access.mode === 'block') return; // the device is the staged volume
      const fs = filesystemOf(ref, meta, access);
      await this.locks.run([{ key: staging, mode: 'exclusive' }], options?.signal, async () => {
        const existing = await currentMount(staging);
        if (existing) {
          if (existing.device !== loop.majMin) {
            throw new PollyError('FAILED_PRECONDITION', `stagingPath: ${staging} already has something else mounted (${existing.source})`, { field: 'stagingPath' });
          }
          if (isReadOnlyMount(existing) !== access.readonly) {
            throw new PollyError('ALREADY_EXISTS', `stagingPath: volume ${ref.backendId} is already staged ${isReadOnlyMount(existing) ? 'read-only' : 'read-write'} at ${staging}`, { field: 'stagingPath' });
          }
          return;
        }
        const readOnly = access.readonly || loop.readOnly;
        if (!readOnly) {
          await checkFilesystemBeforeMount(fs, loop.device, pool.fsck, options?.signal);
          // A clone or snapshot restore larger than its source, or an expand done while the
          // volume was not staged: the filesystem takes the whole device now.
          if (fs === 'ext4') await growExt4Offline(loop.device, loop.sizeBytes, options?.signal);
        }
        await mountDevice(loop.device, staging, { fsType: fs, flags, readOnly, signal: options?.signal });
        if (readOnly || fs !== 'xfs') return;
        try {
          await growFilesystem(fs, loop.device, staging, options?.signal); // XFS grows only mounted
        } catch (e) {
          await unmountAll(staging).catch(() => undefined);
          throw e;
        }
      });
    });
  }

  unstage(ref: BackendRef, stagingPath: string, options?: OperationOptions): Promise<void> {
    return this.driver.run('unstage', options, async () => {
      const staging = checkNodePath('stagingPath', stagingPath);
      await this.image(ref);
      await this.locks.run([{ key: staging, mode: 'exclusive' }], options?.signal, () => unmountAll(staging, options?.signal));
    });
  }

  publish(ref: BackendRef, stagingPath: string, targetPath: string, access: NodeAccess, options?: OperationOptions): Promise<void> {
    return this.driver.run('publish', options, async () => {
      const staging = checkNodePath('stagingPath', stagingPath);
      const target = checkNodePath('targetPath', targetPath);
      checkAccessMode(access);
      const flags = checkMountFlags('mountFlags', access.mountFlags);
      const { file, meta } = await this.driver.volumeImage(ref, 'ref.backendId');
      const loop = await this.requireLoop(ref, file);
      await this.locks.run([{ key: target, mode: 'exclusive' }], options?.signal, async () => {
        if (access.mode === 'block') {
          await bindMount(loop.device, target, { readOnly: access.readonly, kind: 'file', field: 'targetPath', signal: options?.signal });
          return;
        }
        filesystemOf(ref, meta, access);
        const staged = await currentMount(staging);
        if (!staged || staged.device !== loop.majMin) {
          throw new PollyError('FAILED_PRECONDITION', `stagingPath: volume ${ref.backendId} is not staged at ${staging}; stage it first`, { field: 'stagingPath' });
        }
        await bindMount(staging, target, { readOnly: access.readonly, flags, kind: 'dir', field: 'targetPath', signal: options?.signal });
      });
    });
  }

  unpublish(ref: BackendRef, targetPath: string, options?: OperationOptions): Promise<void> {
    return this.driver.run('unpublish', options, async () => {
      const target = checkNodePath('targetPath', targetPath);
      await this.image(ref);
      await this.locks.run([{ key: target, mode: 'exclusive' }], options?.signal, async () => {
        await unmountAll(target, options?.signal);
        await removeTarget(target);
      });
    });
  }

  expandOnNode(ref: BackendRef, mountPath: string, options?: OperationOptions): Promise<void> {
    return this.driver.run('expandOnNode', options, async () => {
      const at = checkNodePath('path', mountPath);
      const { file, meta } = await this.driver.volumeImage(ref, 'ref.backendId');
      const loop = await this.requireLoop(ref, file);
      await this.locks.run([{ key: file, mode: 'exclusive' }], options?.signal, async () => {
        await refreshLoop(loop.device, options?.signal);
        const mounted = await currentMount(at);
        if (meta.format !== 'raw' && mounted?.device === loop.majMin && !isReadOnlyMount(mounted)) {
          await growFilesystem(meta.format, loop.device, at, options?.signal);
        }
      });
    });
  }

  stats(ref: BackendRef, mountPath: string): Promise<NodeVolumeStats> {
    return this.driver.run('stats', undefined, async () => {
      const at = checkNodePath('path', mountPath);
      const { file } = await this.driver.volumeImage(ref, 'ref.backendId');
      const loop = (await loopsFor(file))[0];
      const mounted = await currentMount(at);
      if (loop && mounted && mounted.device === loop.majMin) return statfsStats(at);
      if (loop && mounted && showsLoop(mounted, loop)) return { totalBytes: loop.sizeBytes, availableBytes: 0, usedBytes: 0 };
      throw new PollyError('NOT_FOUND', `path: volume ${ref.backendId} is not mounted at ${at}`, { field: 'path', path: at });
    });
  }

  attachedVolumes(): Promise<NodeAttachment[]> {
    return this.driver.run('attachedVolumes', undefined, async () => {
      const dirs = await this.driver.volumeDirs();
      const table = await readMountTable();
      const out: NodeAttachment[] = [];
      for (const loop of await listLoops()) {
        const backing = loop.backingFile.replace(/ \(deleted\)$/, '');
        const pool = dirs.find((d) => path.dirname(backing) === d.dir);
        const backendId = pool && this.driver.backendIdOf(path.basename(backing));
        if (!pool || !backendId) continue;
        out.push({ pool: pool.pool, backendId, devicePath: loop.device, mountPaths: table.filter((m) => showsLoop(m, loop)).map((m) => m.mountPoint) });
      }
      return out;
    });
  }

  /** The volume's image, or undefined when it does not exist (for the calls that undo). */
  private async image(ref: BackendRef): Promise<{ file: string } | undefined> {
    try {
      return await this.driver.volumeImage(ref, 'ref.backendId');
    } catch (e) {
      if (e instanceof PollyError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  private async requireLoop(ref: BackendRef, file: string): Promise<LoopDevice> {
    const loop = (await loopsFor(file))[0];
    if (!loop) {
      throw new PollyError('FAILED_PRECONDITION', `volume ${ref.backendId} is not attached on this node (no loop device for its image); attach it first`, {
        backendId: ref.backendId,
      });
    }
    return loop;
  }
}

function checkAccessMode(access: NodeAccess): void {
  if (access?.mode !== 'mount' && access?.mode !== 'block') throw invalid('access.mode', 'must be "mount" or "block"');
}

const rawNeedsBlock = (ref: BackendRef): PollyError =>
  new PollyError('FAILED_PRECONDITION', `volume ${ref.backendId} is a raw block volume; use block access`, { field: 'access.mode' });

/** The volume's filesystem; a different fsType asked by the caller is refused rather than reformatted. */
function filesystemOf(ref: BackendRef, meta: ImageMetadata, access: NodeAccess): Filesystem {
  if (meta.format === 'raw') throw rawNeedsBlock(ref);
  if (access.fsType !== undefined && access.fsType !== meta.format) {
    throw new PollyError('FAILED_PRECONDITION', `fsType: volume ${ref.backendId} holds ${meta.format}, not ${access.fsType}`, { field: 'fsType', fsType: meta.format });
  }
  return meta.format;
}
