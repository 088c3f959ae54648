import { assertAdmin, assertMaySeeVolume } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { invalid, PollyError } from './errors.js';
import { checkHostPath } from './host-path.js';
import type { Attachment, Caller, Volume } from './model.js';
import { checkMountFlags } from './mount-flags.js';
import type { BackendRef, NodeAccess, NodeVolumeStats, OperationOptions, StorageDriver } from './ports/storage-driver.js';
import { loadVolume } from './records.js';

/**
 * Node-side use cases on the local node (the server's in-process agent, later the agent):
 * stage/unstage, publish/unpublish, expand on the node and stats of a volume. Each checks the
 * caller may see the volume, checks every host path, and — for the calls that mount — that the
 * catalog records the volume as attached to this node; then it runs the volume's driver.
 */

export interface NodeStageInput {
  readonly stagingPath: string;
  /** `mount` (default): a filesystem at the staging path; `block`: the raw device. */
  readonly accessType?: 'mount' | 'block';
  /** Filesystem for mount access; the driver's default when absent. */
  readonly fsType?: string;
  readonly mountFlags?: readonly string[];
}

export interface NodePublishInput extends NodeStageInput {
  readonly targetPath: string;
  /** Read-only publish; a read-only attachment is always published read-only. */
  readonly readOnly?: boolean;
}

export interface NodeStageResult {
  readonly devicePath?: string;
}

/** A volume mounted or attached on this node, as the kernel shows it. */
export interface NodeVolume {
  readonly service: string;
  readonly pool: string;
  readonly backendId: string;
  /** The Polly volume whose backend this is, when the catalog knows it. */
  readonly volumeId?: string;
  readonly devicePath?: string;
  readonly mountPaths: readonly string[];
}

const FS_TYPE = /^[a-z0-9][a-z0-9._-]{0,31}$/;

function localNode(ctx: CoreContext): string {
  if (ctx.nodeId === undefined) {
    throw new PollyError('FAILED_PRECONDITION', 'this server runs no in-process agent (server.inProcessAgent is off); node-side work is done by the agent of the node');
  }
  return ctx.nodeId;
}

function checkAccessType(value: unknown): 'mount' | 'block' {
  if (value === undefined) return 'mount';
  if (value !== 'mount' && value !== 'block') throw invalid('accessType', 'must be "mount" or "block"');
  return value;
}

interface Resolved {
  readonly volume: Volume;
  readonly driver: StorageDriver;
  readonly ref: BackendRef;
}

async function resolve(ctx: CoreContext, caller: Caller, id: string): Promise<Resolved> {
  const volume = assertMaySeeVolume(caller, (await loadVolume(ctx, id))?.value, id);
  const { driver, ledger } = serviceOf(ctx, volume.service);
  const pool = ledger.pool(volume.pool);
  if (!pool) throw new PollyError('INTERNAL', `pool ${volume.pool} of volume ${volume.id} is not configured`, { volumeId: id });
  return { volume, driver, ref: { pool: pool.spec.name, backendId: volume.backendId } };
}

/** The attachment of the volume to this node; FAILED_PRECONDITION naming where it is attached otherwise. */
function localAttachment(ctx: CoreContext, volume: Volume): Attachment {
  const nodeId = localNode(ctx);
  const found = volume.attachments.find((a) => a.nodeId === nodeId);
  if (found && volume.status === 'attached') return found;
  const elsewhere = volume.attachments.map((a) => a.nodeId);
  throw new PollyError(
    'FAILED_PRECONDITION',
    `volume ${volume.id} is not attached to node ${nodeId}${elsewhere.length ? ` (attached to ${elsewhere.join(', ')})` : ''}; attach it first`,
    { volumeId: volume.id, nodeId, attachedTo: elsewhere },
  );
}

function accessFor(driver: StorageDriver, input: NodeStageInput, readonly: boolean): NodeAccess {
  const mode = checkAccessType(input.accessType);
  if (mode === 'block' && !driver.capabilities.block) {
    throw new PollyError('UNSUPPORTED', `the ${driver.name} driver has no block volumes; use accessType "mount"`, { field: 'accessType' });
  }
  if (input.fsType !== undefined && (typeof input.fsType !== 'string' || !FS_TYPE.test(input.fsType))) {
    throw invalid('fsType', 'must be a filesystem name such as ext4 or xfs');
  }
  const mountFlags = checkMountFlags('mountFlags', input.mountFlags);
  return {
    mode,
    readonly,
    ...(input.fsType === undefined ? {} : { fsType: input.fsType }),
    ...(mountFlags.length === 0 ? {} : { mountFlags }),
  };
}

async function onBackend<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw backendError(what, e);
  }
}

/** Attaches the volume's device on this node (when it has one) and mounts it at the staging path. */
export async function stageVolume(ctx: CoreContext, caller: Caller, id: string, input: NodeStageInput, options: OperationOptions = {}): Promise<NodeStageResult> {
  const stagingPath = checkHostPath('stagingPath', input?.stagingPath);
  const { volume, driver, ref } = await resolve(ctx, caller, id);
  const attachment = localAttachment(ctx, volume);
  const access = accessFor(driver, input, attachment.readOnly);
  return onBackend(`staging volume ${id}`, async () => {
    const attached = await driver.node.attach(ref, access, options);
    await driver.node.stage(ref, stagingPath, access, options);
    ctx.logger.info({ volumeId: id, stagingPath }, 'volume staged');
    return attached.devicePath === undefined ? {} : { devicePath: attached.devicePath };
  });
}

/** Unmounts the staging path and releases the volume's device on this node; repeating is fine. */
export async function unstageVolume(ctx: CoreContext, caller: Caller, id: string, stagingPath: string, options: OperationOptions = {}): Promise<void> {
  const staging = checkHostPath('stagingPath', stagingPath);
  localNode(ctx);
  const { driver, ref } = await resolve(ctx, caller, id);
  await onBackend(`unstaging volume ${id}`, async () => {
    await driver.node.unstage(ref, staging, options);
    await driver.node.detach(ref, options);
  });
  ctx.logger.info({ volumeId: id, stagingPath: staging }, 'volume unstaged');
}

/** Bind mounts the staged volume at the target path, read-only when asked or when attached read-only. */
export async function publishVolume(ctx: CoreContext, caller: Caller, id: string, input: NodePublishInput, options: OperationOptions = {}): Promise<void> {
  const stagingPath = checkHostPath('stagingPath', input?.stagingPath);
  const targetPath = checkHostPath('targetPath', input.targetPath);
  if (input.readOnly !== undefined && typeof input.readOnly !== 'boolean') throw invalid('readOnly', 'must be true or false');
  const { volume, driver, ref } = await resolve(ctx, caller, id);
  const attachment = localAttachment(ctx, volume);
  if (attachment.readOnly && input.readOnly === false) {
    throw new PollyError('FAILED_PRECONDITION', `volume ${id} is attached read-only to node ${attachment.nodeId}; it cannot be published writable`, { field: 'readOnly' });
  }
  const access = accessFor(driver, input, attachment.readOnly || input.readOnly === true);
  await onBackend(`publishing volume ${id}`, () => driver.node.publish(ref, stagingPath, targetPath, access, options));
  ctx.logger.info({ volumeId: id, targetPath, readOnly: access.readonly }, 'volume published');
}

/** Unmounts the target path and removes the mount point it made; repeating is fine. */
export async function unpublishVolume(ctx: CoreContext, caller: Caller, id: string, targetPath: string, options: OperationOptions = {}): Promise<void> {
  const target = checkHostPath('targetPath', targetPath);
  localNode(ctx);
  const { driver, ref } = await resolve(ctx, caller, id);
  await onBackend(`unpublishing volume ${id}`, () => driver.node.unpublish(ref, target, options));
  ctx.logger.info({ volumeId: id, targetPath: target }, 'volume unpublished');
}

/** After a controller expand: grows what this node sees (device, filesystem); returns the new stats. */
export async function expandVolumeOnNode(ctx: CoreContext, caller: Caller, id: string, volumePath: string, options: OperationOptions = {}): Promise<NodeVolumeStats> {
  const mounted = checkHostPath('volumePath', volumePath);
  const { volume, driver, ref } = await resolve(ctx, caller, id);
  localAttachment(ctx, volume);
  if (!driver.capabilities.expand) throw new PollyError('UNSUPPORTED', `the ${driver.name} driver cannot expand volumes`);
  return onBackend(`expanding volume ${id} on the node`, async () => {
    await driver.node.expandOnNode(ref, mounted, options);
    return driver.node.stats(ref, mounted);
  });
}

/** Bytes and inodes of the volume mounted at `volumePath` on this node. */
export async function nodeVolumeStats(ctx: CoreContext, caller: Caller, id: string, volumePath: string): Promise<NodeVolumeStats> {
  const mounted = checkHostPath('volumePath', volumePath);
  localNode(ctx);
  const { driver, ref } = await resolve(ctx, caller, id);
  return onBackend(`reading stats of volume ${id}`, () => driver.node.stats(ref, mounted));
}

/** What every service's driver has attached or mounted on this node, read from the kernel (admin only). */
export async function listNodeVolumes(ctx: CoreContext, caller: Caller): Promise<NodeVolume[]> {
  assertAdmin(caller, 'listing node volumes');
  localNode(ctx);
  const out: NodeVolume[] = [];
  for (const [service, driver] of ctx.drivers) {
    const attached = await onBackend(`listing volumes of service ${service} on this node`, () => driver.node.attachedVolumes());
    for (const a of attached) {
      const record = (await loadVolume(ctx, a.backendId))?.value;
      const known = record !== undefined && record.service === service && record.backendId === a.backendId;
      out.push({
        service,
        pool: a.pool,
        backendId: a.backendId,
        ...(known ? { volumeId: record.id } : {}),
        ...(a.devicePath === undefined ? {} : { devicePath: a.devicePath }),
        mountPaths: a.mountPaths,
      });
    }
  }
  return out;
}

/** What the kernel of this node shows that the catalog does not explain. */
export interface NodeReconcileReport {
  /** Attached or mounted here, but no Polly volume has that backend. */
  readonly unknown: NodeVolume[];
  /** Mounted or attached here, while the catalog records no attachment of the volume to this node. */
  readonly notAttachedHere: NodeVolume[];
}

/**
 * Compares what is attached and mounted on this node (read from the kernel) with the catalog's
 * attachments, as an agent does when it starts. It reports and never unmounts: something
 * mounted that the catalog does not explain may be in use, and only an admin can tell.
 */
export async function reconcileNodeVolumes(ctx: CoreContext, caller: Caller): Promise<NodeReconcileReport> {
  const nodeId = localNode(ctx);
  const unknown: NodeVolume[] = [];
  const notAttachedHere: NodeVolume[] = [];
  for (const found of await listNodeVolumes(ctx, caller)) {
    if (found.volumeId === undefined) {
      unknown.push(found);
      continue;
    }
    const volume = (await loadVolume(ctx, found.volumeId))?.value;
    if (!volume?.attachments.some((a) => a.nodeId === nodeId)) notAttachedHere.push(found);
  }
  return { unknown, notAttachedHere };
}
