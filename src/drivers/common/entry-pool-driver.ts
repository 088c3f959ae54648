import { lstat, mkdir, readdir, realpath, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { invalid, notFound, PollyError } from '../../core/errors.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type { BackendRef, BackendVolume, CreateVolumeRequest, OperationOptions, PoolCapacity } from '../../core/ports/storage-driver.js';
import { checkBackendId, isValidBackendId } from '../dir/check-backend-id.js';
import { KeyedLock, type LockRequest } from './keyed-lock.js';
import { OperationRunner } from './operation-runner.js';

export type EntryKind = 'volume' | 'snapshot';

export interface EntryPool {
  readonly spec: PoolSpec;
  /** Configured root (absolute, normalised). */
  readonly root: string;
}

/** The directories of a pool whose volumes and snapshots are entries named by backend id. */
export interface EntryLayout<P extends EntryPool> {
  readonly pool: P;
  /** realpath of the configured root. */
  readonly root: string;
  readonly volumes: string;
  readonly snapshots: string;
  readonly staging: string;
  readonly metaVolumes: string;
  readonly metaSnapshots: string;
}

/** The directories of a pool rooted at `root` (its real path). */
export function layoutPaths<P extends EntryPool>(pool: P, root: string): EntryLayout<P> {
  return {
    pool,
    root,
    volumes: path.join(root, 'volumes'),
    snapshots: path.join(root, 'snapshots'),
    staging: path.join(root, '.staging'),
    metaVolumes: path.join(root, '.meta', 'volumes'),
    metaSnapshots: path.join(root, '.meta', 'snapshots'),
  };
}

export interface SourceRef<P extends EntryPool> {
  readonly kind: EntryKind;
  readonly pool: P;
  readonly backendId: string;
}

export interface PreparedCreate<P extends EntryPool> {
  readonly pool: P;
  readonly id: string;
  readonly sizeBytes: number;
  readonly layout: EntryLayout<P>;
  readonly source?: SourceRef<P> & { readonly layout: EntryLayout<P> };
  readonly locks: LockRequest[];
}

/**
 * What the image and btrfs drivers share: pools by name, per-entry locks, the run wrapper
 * (refuse after close, map errors, wait for running work on close), the pool layout
 *
 *   <root>/volumes/<entry>  <root>/snapshots/<entry>  <root>/.meta/{volumes,snapshots}/<id>.json  <root>/.staging/
 *
 * and the undo of interrupted work (staging leftovers, metadata without an entry).
 * A subclass says what an entry is (an image file, a subvolume).
 */
export abstract class EntryPoolDriver<P extends EntryPool> {
  protected readonly locks = new KeyedLock();
  /** Staging paths in use by this instance; cleanup leaves them alone. */
  protected readonly stagingInUse = new Set<string>();
  private readonly entryPools: ReadonlyMap<string, P>;
  private readonly runner: OperationRunner;

  protected constructor(
    readonly service: ServiceSpec,
    pools: readonly P[],
    private readonly driverLabel: string,
  ) {
    this.entryPools = new Map(pools.map((p) => [p.spec.name, p]));
    this.runner = new OperationRunner(driverLabel, service.name);
  }

  pools(): readonly string[] {
    return [...this.entryPools.keys()];
  }

  /** Waits for running operations; new ones are refused with UNAVAILABLE. */
  close(): Promise<void> {
    return this.runner.close();
  }

  /** Runs one public operation: refuses after close, maps errors, tracks it for close(). */
  run<T>(op: string, options: { readonly signal?: AbortSignal | undefined } | undefined, fn: () => Promise<T>): Promise<T> {
    return this.runner.run(op, options, fn);
  }

  /** The volumes directory of every pool (real paths), for the node side. */
  async volumeDirs(): Promise<Array<{ pool: string; dir: string }>> {
    const out: Array<{ pool: string; dir: string }> = [];
    for (const pool of this.entryPools.values()) out.push({ pool: pool.spec.name, dir: (await this.layout(pool)).volumes });
    return out;
  }

  /** A volume's entry (its path) for the node side; NOT_FOUND when there is none. */
  async volumeEntry(ref: BackendRef, field: string): Promise<string> {
    const { layout, id } = await this.resolve(ref);
    return this.requireEntry(layout, 'volume', id, field);
  }

  /** The entry's path; the entry need not exist. */
  protected abstract entryPath(layout: EntryLayout<P>, kind: EntryKind, id: string): string;
  /** Whether the entry exists; something else in its place is INVALID_ARGUMENT naming `field`. */
  protected abstract findEntry(layout: EntryLayout<P>, kind: EntryKind, id: string, field: string): Promise<boolean>;
  /** The pool's layout, checked; subclasses add their own checks. */
  protected abstract layout(pool: P): Promise<EntryLayout<P>>;
  /** The backend id a directory entry of `volumes/` or `snapshots/` stands for, if any. */
  protected abstract entryIdOf(name: string): string | undefined;
  /** The entry as the port describes it (size from metadata or the backend). */
  protected abstract describe(layout: EntryLayout<P>, kind: EntryKind, id: string): Promise<BackendVolume>;

  async capacity(pool: string, options?: OperationOptions): Promise<PoolCapacity> {
    return this.run('capacity', options, async () => this.statfsCapacity(await this.layout(this.poolOf('pool', pool))));
  }

  /** Every volume and snapshot of the pool, managed or not; entries that vanish meanwhile or are not ours are skipped. */
  async list(pool: string, options?: OperationOptions): Promise<BackendVolume[]> {
    return this.run('list', options, async () => {
      const layout = await this.layout(this.poolOf('pool', pool));
      const found: BackendVolume[] = [];
      for (const kind of ['volume', 'snapshot'] as const) {
        const names = await readdir(kind === 'volume' ? layout.volumes : layout.snapshots);
        for (const name of names.sort()) {
          options?.signal?.throwIfAborted();
          const id = this.entryIdOf(name);
          if (id === undefined || !isValidBackendId(id)) continue;
          try {
            if (await this.findEntry(layout, kind, id, 'backendId')) found.push(await this.describe(layout, kind, id));
          } catch (e) {
            const gone = (e as NodeJS.ErrnoException).code === 'ENOENT';
            if (!gone && !(e instanceof PollyError && e.code === 'INVALID_ARGUMENT')) throw e;
          }
        }
      }
      return found;
    });
  }

  async delete(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.removeEntry('delete', 'volume', ref, options);
  }

  async deleteSnapshot(ref: BackendRef, options?: OperationOptions): Promise<void> {
    return this.removeEntry('deleteSnapshot', 'snapshot', ref, options);
  }

  /** Removes an existing entry (after the subclass's checks, e.g. that it is not in use). */
  protected abstract removeExisting(layout: EntryLayout<P>, kind: EntryKind, entry: string, id: string): Promise<void>;

  protected poolOf(field: string, pool: unknown): P {
    const found = typeof pool === 'string' ? this.entryPools.get(pool) : undefined;
    if (!found) throw invalid(field, `unknown pool ${JSON.stringify(pool)} of service "${this.service.name}"; known: ${this.pools().join(', ')}`);
    return found;
  }

  protected allPools(): P[] {
    return [...this.entryPools.values()];
  }

  protected checkSource(source: NonNullable<CreateVolumeRequest['source']>): SourceRef<P> {
    if (typeof source !== 'object' || source === null) throw invalid('source', 'must be { kind, ref }');
    if (source.kind !== 'snapshot' && source.kind !== 'volume') throw invalid('source.kind', 'must be "snapshot" or "volume"');
    const pool = this.poolOf('source.ref.pool', source.ref?.pool);
    return { kind: source.kind, pool, backendId: checkBackendId('source.ref.backendId', source.ref.backendId) };
  }

  /**
   * The common start of create: the pool, the volume id, the size (checked by `checkSize`), the
   * source, their layouts, and the locks to hold (the new volume exclusive, its source shared).
   */
  protected async prepareCreate(request: CreateVolumeRequest, checkSize: (field: string, value: unknown) => number): Promise<PreparedCreate<P>> {
    const pool = this.poolOf('pool', request?.pool);
    const id = checkBackendId('volumeId', request.volumeId);
    const sizeBytes = checkSize('sizeBytes', request.sizeBytes);
    const source = request.source === undefined ? undefined : this.checkSource(request.source);
    const layout = await this.layout(pool);
    const sourceLayout = source && (source.pool === pool ? layout : await this.layout(source.pool));
    const locks: LockRequest[] = [{ key: this.lockKey(pool, 'volume', id), mode: 'exclusive' }];
    if (source) locks.push({ key: this.lockKey(source.pool, source.kind, source.backendId), mode: 'shared' });
    return { pool, id, sizeBytes, layout, locks, ...(source && sourceLayout ? { source: { ...source, layout: sourceLayout } } : {}) };
  }

  /**
   * snapshot: checks the ids, takes the snapshot's lock (exclusive) and the volume's (`volumeLock`),
   * answers an existing snapshot as it is, else `make`s it from the volume's entry and describes it.
   */
  protected snapshotEntry(
    snapshotId: string,
    source: BackendRef,
    options: OperationOptions | undefined,
    volumeLock: 'shared' | 'exclusive',
    make: (layout: EntryLayout<P>, id: string, volumeId: string, volumeEntry: string) => Promise<void>,
  ): Promise<BackendVolume> {
    return this.run('snapshot', options, async () => {
      const { layout, id: volumeId } = await this.resolve(source, 'source');
      const id = checkBackendId('snapshotId', snapshotId);
      const locks: LockRequest[] = [
        { key: this.lockKey(layout.pool, 'snapshot', id), mode: 'exclusive' },
        { key: this.lockKey(layout.pool, 'volume', volumeId), mode: volumeLock },
      ];
      return this.locks.run(locks, options?.signal, async () => {
        if (await this.findEntry(layout, 'snapshot', id, 'snapshotId')) return this.describe(layout, 'snapshot', id);
        await make(layout, id, volumeId, await this.requireEntry(layout, 'volume', volumeId, 'source.backendId'));
        return this.describe(layout, 'snapshot', id);
      });
    });
  }

  /** Checks a ref (pool and backend id) and returns the pool's layout with the id. */
  protected async resolve(ref: BackendRef, field = 'ref'): Promise<{ layout: EntryLayout<P>; id: string }> {
    const pool = this.poolOf(`${field}.pool`, ref?.pool);
    const id = checkBackendId(`${field}.backendId`, ref.backendId);
    return { layout: await this.layout(pool), id };
  }

  protected lockKey(pool: P, kind: EntryKind, id: string): string {
    return `${pool.spec.name}\u0000${kind}\u0000${id}`;
  }

  protected metadataFile(layout: EntryLayout<P>, kind: EntryKind, id: string): string {
    return path.join(kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots, `${id}.json`);
  }

  protected async requireEntry(layout: EntryLayout<P>, kind: EntryKind, id: string, field: string): Promise<string> {
    if (!(await this.findEntry(layout, kind, id, field))) throw notFound(kind, id);
    return this.entryPath(layout, kind, id);
  }

  /** Creates the pool's directories when missing (private ones 0700) and refuses anything else in their place. */
  protected async makeLayout(pool: P): Promise<EntryLayout<P>> {
    await mkdir(pool.root, { recursive: true, mode: 0o755 });
    const root = await realpath(pool.root);
    const layout = layoutPaths(pool, root);
    for (const dir of [layout.volumes, layout.snapshots, layout.staging, path.join(root, '.meta'), layout.metaVolumes, layout.metaSnapshots]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const st = await lstat(dir);
      if (st.isSymbolicLink() || !st.isDirectory()) {
        throw new PollyError('BACKEND_ERROR', `${this.driverLabel} driver: ${dir} must be a directory; refusing to use the pool`, { path: dir });
      }
    }
    return layout;
  }

  /** Total and free bytes of the pool's filesystem (total capped by the configured capacity). */
  protected async statfsCapacity(layout: EntryLayout<P>): Promise<PoolCapacity> {
    const fs = await statfs(layout.root);
    const backendTotal = fs.bsize * fs.blocks;
    const cap = layout.pool.spec.capacityBytes;
    const totalBytes = cap === undefined ? backendTotal : Math.min(backendTotal, cap);
    return { pool: layout.pool.spec.name, totalBytes, freeBytes: Math.min(fs.bavail * fs.bsize, totalBytes) };
  }

  /**
   * Removes what interrupted operations left: every `.staging/` entry not in use (with
   * `removeLeftover`) and metadata whose entry does not exist. Returns how many.
   */
  protected async removeLeftovers(layout: EntryLayout<P>, removeLeftover: (file: string) => Promise<void>): Promise<number> {
    let removed = 0;
    for (const name of await readdir(layout.staging)) {
      const leftover = path.join(layout.staging, name);
      if (this.stagingInUse.has(leftover)) continue;
      await removeLeftover(leftover);
      removed++;
    }
    for (const kind of ['volume', 'snapshot'] as const) {
      const metaDir = kind === 'volume' ? layout.metaVolumes : layout.metaSnapshots;
      for (const name of await readdir(metaDir)) {
        // `<id>.json` or a temporary `<id>.json.tmp-…` of an interrupted write.
        const match = /^(.+)\.json(\.tmp-[0-9a-f]+)?$/.exec(name);
        const id = match?.[1];
        if (!id || !isValidBackendId(id) || this.locks.isBusy(this.lockKey(layout.pool, kind, id))) continue;
        if (match[2] === undefined && (await this.findEntry(layout, kind, id, 'backendId').catch(() => true))) continue;
        await rm(path.join(metaDir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /**
   * delete / deleteSnapshot: under the entry's lock, removes the entry with `removeExisting`
   * (which may refuse, e.g. while it is in use), then its metadata. A missing entry is fine.
   */
  private removeEntry(op: string, kind: EntryKind, ref: BackendRef, options: OperationOptions | undefined): Promise<void> {
    return this.run(op, options, async () => {
      const { layout, id } = await this.resolve(ref);
      await this.locks.run([{ key: this.lockKey(layout.pool, kind, id), mode: 'exclusive' }], options?.signal, async () => {
        if (await this.findEntry(layout, kind, id, 'ref.backendId')) await this.removeExisting(layout, kind, this.entryPath(layout, kind, id), id);
        await rm(this.metadataFile(layout, kind, id), { force: true });
      });
    });
  }

  /**
   * expand: under the volume's lock, checks the volume exists and is not shrunk, then `grow`s it
   * (unless it has the size already) and describes it.
   */
  protected expandEntry(
    ref: BackendRef,
    sizeBytes: number,
    options: OperationOptions | undefined,
    grow: (layout: EntryLayout<P>, entry: string, id: string, current: BackendVolume) => Promise<void>,
  ): Promise<BackendVolume> {
    return this.run('expand', options, async () => {
      const { layout, id } = await this.resolve(ref);
      return this.locks.run([{ key: this.lockKey(layout.pool, 'volume', id), mode: 'exclusive' }], options?.signal, async () => {
        const entry = await this.requireEntry(layout, 'volume', id, 'ref.backendId');
        const current = await this.describe(layout, 'volume', id);
        this.checkNotShrinking(id, current.sizeBytes, sizeBytes);
        if (sizeBytes === current.sizeBytes) return current;
        await grow(layout, entry, id, current);
        return this.describe(layout, 'volume', id);
      });
    });
  }

  /** usage: measures an existing volume's entry. */
  protected usageOf(ref: BackendRef, options: OperationOptions | undefined, measure: (entry: string) => Promise<number>): Promise<number> {
    return this.run('usage', options, async () => {
      const { layout, id } = await this.resolve(ref);
      return measure(await this.requireEntry(layout, 'volume', id, 'ref.backendId'));
    });
  }

  /** Refuses to shrink; OUT_OF_RANGE naming both sizes. */
  protected checkNotShrinking(id: string, currentBytes: number, requestedBytes: number): void {
    if (requestedBytes < currentBytes) {
      throw new PollyError('OUT_OF_RANGE', `sizeBytes: cannot shrink volume "${id}" from ${currentBytes} to ${requestedBytes} bytes`, {
        field: 'sizeBytes', currentBytes, requestedBytes,
      });
    }
  }

  /** Refuses a new volume smaller than its source; OUT_OF_RANGE naming both sizes. */
  protected checkFitsSource(source: SourceRef<P>, sourceBytes: number, sizeBytes: number): void {
    if (sizeBytes < sourceBytes) {
      throw new PollyError('OUT_OF_RANGE', `sizeBytes: ${sizeBytes} is smaller than the source ${source.kind} "${source.backendId}" (${sourceBytes} bytes)`, {
        field: 'sizeBytes', sourceBytes,
      });
    }
  }
}
