import type { CoreContext } from './context.js';
import { PollyError, asPollyError, invalid, notFound } from './errors.js';
import { keys } from './keys.js';
import type { Caller, Labels, Volume, VolumeSource } from './model.js';
import { checkLabels, checkName } from './names.js';
import { createVolume } from './volume-create.js';
import { expandVolume } from './volume-expand.js';
import { deleteVolume, getVolume } from './volumes.js';

/**
 * Service instances and bindings: a platform (Cloud Foundry through the Open Service Broker API)
 * provisions a volume under its own instance id and binds applications to it. The records live in
 * the store next to the catalog; the rules (identical retry → same instance, other attributes →
 * conflict, one operation at a time, no deprovision while bound, nothing half-made) live here.
 */
export type InstanceState = 'in progress' | 'succeeded' | 'failed';
export type InstanceOperation = 'provision' | 'update' | 'deprovision';

export interface ServiceInstance {
  readonly id: string;
  /** Who provisioned it; only they (or an admin) see it. */
  readonly owner: string;
  readonly service: string;
  /** The plan as the front door names it (opaque to core). */
  readonly plan: string;
  readonly volumeName: string;
  readonly volumeId?: string;
  readonly sizeBytes?: number;
  readonly type?: string;
  readonly labels: Labels;
  /** The request as given, for "identical request" checks. */
  readonly fingerprint: string;
  readonly state: InstanceState;
  readonly operation: InstanceOperation;
  readonly description?: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ServiceBinding {
  readonly id: string;
  readonly instanceId: string;
  readonly owner: string;
  readonly volumeId: string;
  readonly readOnly: boolean;
  readonly containerDir?: string;
  readonly fingerprint: string;
  readonly createdAt: number;
}

export interface ProvisionInput {
  readonly instanceId: string;
  readonly service: string;
  readonly plan: string;
  readonly sizeBytes?: number;
  readonly type?: string;
  readonly labels?: Labels;
  /** Content to start from (a copy: callers may want it to run in the background). */
  readonly source?: VolumeSource;
  /** Anything else of the request that makes it "the same request" (e.g. the platform's parameters). */
  readonly fingerprint: string;
}

export interface BindInput {
  readonly instanceId: string;
  readonly bindingId: string;
  readonly readOnly?: boolean;
  readonly containerDir?: string;
  readonly fingerprint: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkInstanceId(field: string, id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id) || id.includes('..')) {
    throw invalid(field, 'must be 1-100 characters of letters, digits, ".", "_" and "-", starting with a letter or digit, without ".."');
  }
  return id;
}

const visible = (caller: Caller, owner: string): boolean => caller.kind === 'admin' || caller.name === owner;

async function load(ctx: CoreContext, caller: Caller, id: string): Promise<{ value: ServiceInstance; revision: number } | undefined> {
  checkInstanceId('instance_id', id);
  const rec = await ctx.store.get<ServiceInstance>(keys.serviceInstance(id));
  if (!rec || !visible(caller, rec.value.owner)) return undefined;
  return rec;
}

export async function getInstance(ctx: CoreContext, caller: Caller, id: string): Promise<ServiceInstance> {
  const rec = await load(ctx, caller, id);
  if (!rec) throw notFound('service instance', id);
  return rec.value;
}

async function put(ctx: CoreContext, next: ServiceInstance, revision: number): Promise<number> {
  const res = await ctx.store.txn({ compares: [{ key: keys.serviceInstance(next.id), revision }], ops: [{ type: 'put', key: keys.serviceInstance(next.id), value: next }] });
  if (!res.ok) throw new PollyError('IN_PROGRESS', `service instance ${next.id} is being changed by another request`, { instanceId: next.id });
  return res.revision;
}

async function drop(ctx: CoreContext, id: string): Promise<void> {
  await ctx.store.txn({ compares: [], ops: [{ type: 'delete', key: keys.serviceInstance(id) }] });
}

export interface ProvisionResult {
  readonly instance: ServiceInstance;
  /** False when an earlier identical request made (or is making) it. */
  readonly created: boolean;
}

/**
 * Provisions a volume for a platform's instance id. `background` runs the create after the
 * instance record is written and answers at once (state "in progress"); otherwise the answer
 * waits, and a failure leaves nothing behind (no record, no volume).
 */
export async function provisionInstance(ctx: CoreContext, caller: Caller, input: ProvisionInput, background: boolean): Promise<ProvisionResult> {
  checkInstanceId('instance_id', input.instanceId);
  checkName('service', input.service);
  const volumeName = checkName('instance_id', `osb-${input.instanceId}`);
  const labels = checkLabels('labels', input.labels);
  const existing = await ctx.store.get<ServiceInstance>(keys.serviceInstance(input.instanceId));
  if (existing) {
    const cur = existing.value;
    if (!visible(caller, cur.owner) || cur.fingerprint !== input.fingerprint || cur.operation !== 'provision') {
      throw new PollyError('ALREADY_EXISTS', `service instance ${input.instanceId} already exists with other attributes`, { instanceId: input.instanceId });
    }
    if (cur.state === 'failed') throw new PollyError('ALREADY_EXISTS', `service instance ${input.instanceId} failed to provision (${cur.description ?? 'unknown reason'}); deprovision it first`, { instanceId: input.instanceId });
    return { instance: cur, created: false };
  }
  const now = ctx.clock.now();
  const intent: ServiceInstance = {
    id: input.instanceId, owner: caller.name, service: input.service, plan: input.plan, volumeName,
    ...(input.sizeBytes !== undefined ? { sizeBytes: input.sizeBytes } : {}),
    ...(input.type !== undefined ? { type: input.type } : {}),
    labels, fingerprint: input.fingerprint, state: 'in progress', operation: 'provision', createdAt: now, updatedAt: now,
  };
  let revision = await put(ctx, intent, 0).catch((e: unknown) => {
    throw e instanceof PollyError && e.code === 'IN_PROGRESS'
      ? new PollyError('IN_PROGRESS', `service instance ${input.instanceId} is being provisioned by another request`, { instanceId: input.instanceId })
      : e;
  });

  const run = async (): Promise<ServiceInstance> => {
    try {
      const { volume } = await createVolume(ctx, caller, {
        service: input.service, name: volumeName, labels,
        ...(input.sizeBytes !== undefined ? { sizeBytes: input.sizeBytes } : {}),
        ...(input.type !== undefined ? { type: input.type } : {}),
        ...(input.source !== undefined ? { source: input.source } : {}),
        schedulers: caller.kind === 'scheduler' ? [caller.name] : [],
      });
      const done: ServiceInstance = { ...intent, volumeId: volume.id, sizeBytes: volume.sizeBytes, state: 'succeeded', updatedAt: ctx.clock.now() };
      revision = await put(ctx, done, revision);
      return done;
    } catch (e) {
      if (!background) {
        await drop(ctx, intent.id);
        throw e;
      }
      const failed: ServiceInstance = { ...intent, state: 'failed', description: asPollyError(e).message, updatedAt: ctx.clock.now() };
      await put(ctx, failed, revision).catch(() => undefined);
      return failed;
    }
  };
  if (!background) return { instance: await run(), created: true };
  void run().catch((e: unknown) => ctx.logger.error({ err: e, instanceId: intent.id }, 'background provision failed'));
  return { instance: intent, created: true };
}

/** Grows the instance's volume; a plan change is refused (plans fix the volume type). */
export async function updateInstance(ctx: CoreContext, caller: Caller, id: string, change: { plan?: string; sizeBytes?: number }, background: boolean): Promise<ServiceInstance> {
  const rec = await load(ctx, caller, id);
  if (!rec) throw notFound('service instance', id);
  const cur = rec.value;
  if (cur.state === 'in progress') throw new PollyError('IN_PROGRESS', `service instance ${id} has a ${cur.operation} in progress`, { instanceId: id });
  if (cur.volumeId === undefined || (cur.operation === 'provision' && cur.state === 'failed')) {
    throw new PollyError('FAILED_PRECONDITION', `service instance ${id} was not provisioned`, { instanceId: id });
  }
  if (change.plan !== undefined && change.plan !== cur.plan) {
    throw new PollyError('UNSUPPORTED', `service instance ${id}: changing the plan (the volume type) is not supported; only the size can change`, { instanceId: id });
  }
  if (change.sizeBytes === undefined || change.sizeBytes === cur.sizeBytes) return cur;
  const volumeId = cur.volumeId;
  const sizeBytes = change.sizeBytes;
  // Check what can be checked now, so that a bad request fails at once, not in the background.
  const volume = await getVolume(ctx, caller, volumeId);
  if (sizeBytes < volume.sizeBytes) throw new PollyError('OUT_OF_RANGE', `service instance ${id}: the volume cannot shrink`, { instanceId: id });
  const working: ServiceInstance = { ...cur, state: 'in progress', operation: 'update', updatedAt: ctx.clock.now() };
  let revision = await put(ctx, working, rec.revision);
  const run = async (): Promise<ServiceInstance> => {
    try {
      const { volume: grown } = await expandVolume(ctx, caller, volumeId, sizeBytes);
      const done: ServiceInstance = { ...working, sizeBytes: grown.sizeBytes, state: 'succeeded', updatedAt: ctx.clock.now() };
      revision = await put(ctx, done, revision);
      return done;
    } catch (e) {
      const failed: ServiceInstance = { ...working, state: 'failed', description: asPollyError(e).message, updatedAt: ctx.clock.now() };
      await put(ctx, failed, revision).catch(() => undefined);
      if (!background) throw e;
      return failed;
    }
  };
  if (!background) return run();
  void run();
  return working;
}

/**
 * Deletes the instance's volume, then the record. A never-provisioned or failed instance is
 * simply forgotten (orphan mitigation: whatever a failed provision left is removed too).
 * Refused while bindings exist or another operation runs.
 */
export async function deprovisionInstance(ctx: CoreContext, caller: Caller, id: string, background: boolean): Promise<{ instance: ServiceInstance; done: boolean }> {
  const rec = await load(ctx, caller, id);
  if (!rec) throw notFound('service instance', id);
  const cur = rec.value;
  if (cur.state === 'in progress' && cur.operation !== 'deprovision') {
    throw new PollyError('IN_PROGRESS', `service instance ${id} has a ${cur.operation} in progress`, { instanceId: id });
  }
  if (cur.state === 'in progress') return { instance: cur, done: false };
  const bindings = await ctx.store.list(keys.serviceBindings(id), { limit: 1 });
  if (bindings.records.length > 0) {
    throw new PollyError('FAILED_PRECONDITION', `service instance ${id} still has bindings; unbind them first`, { instanceId: id });
  }
  const working: ServiceInstance = { ...cur, state: 'in progress', operation: 'deprovision', updatedAt: ctx.clock.now() };
  const revision = await put(ctx, working, rec.revision);
  const run = async (): Promise<void> => {
    try {
      const volume = await findVolume(ctx, caller, cur);
      if (volume) await deleteVolume(ctx, caller, volume.id);
      await drop(ctx, id);
    } catch (e) {
      const failed: ServiceInstance = { ...working, state: 'failed', description: asPollyError(e).message, updatedAt: ctx.clock.now() };
      await put(ctx, failed, revision).catch(() => undefined);
      if (!background) throw e;
    }
  };
  if (!background) {
    await run();
    return { instance: working, done: true };
  }
  void run();
  return { instance: working, done: false };
}

/** The instance's volume: by id once known, else by its name (a provision that died midway). */
async function findVolume(ctx: CoreContext, caller: Caller, inst: ServiceInstance): Promise<Volume | undefined> {
  if (inst.volumeId !== undefined) {
    try {
      return await getVolume(ctx, caller, inst.volumeId);
    } catch (e) {
      if (e instanceof PollyError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
  const idx = await ctx.store.get<{ id: string }>(keys.volumeName(inst.service, inst.volumeName));
  if (!idx) return undefined;
  try {
    const v = await getVolume(ctx, caller, idx.value.id);
    if (v.status === 'creating') throw new PollyError('IN_PROGRESS', `the volume of service instance ${inst.id} is still being created; retry`, { instanceId: inst.id });
    return v;
  } catch (e) {
    if (e instanceof PollyError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
}

/**
 * At start-up (no request in flight): operations that were running when the process stopped
 * will never finish, so they are marked failed; the platform's next poll sees it and retries or
 * cleans up. Their volumes are finished or rolled back by the reconciler. Returns how many.
 */
export async function failInterruptedInstances(ctx: CoreContext): Promise<number> {
  let after: string | undefined;
  let count = 0;
  for (;;) {
    const page = await ctx.store.list<ServiceInstance>(keys.serviceInstances, { limit: 1000, ...(after !== undefined ? { after } : {}) });
    for (const r of page.records) {
      after = r.key;
      if (r.value.state !== 'in progress') continue;
      const failed: ServiceInstance = { ...r.value, state: 'failed', description: `the server restarted during the ${r.value.operation}; retry it`, updatedAt: ctx.clock.now() };
      if ((await ctx.store.txn({ compares: [{ key: r.key, revision: r.revision }], ops: [{ type: 'put', key: r.key, value: failed }] })).ok) count++;
    }
    if (page.next === undefined) return count;
  }
}

// ---------------------------------------------------------------------------------------------
// bindings

export async function bindInstance(ctx: CoreContext, caller: Caller, input: BindInput): Promise<{ binding: ServiceBinding; volume: Volume; created: boolean }> {
  checkInstanceId('binding_id', input.bindingId);
  const inst = await getInstance(ctx, caller, input.instanceId);
  if (inst.state === 'in progress') throw new PollyError('IN_PROGRESS', `service instance ${inst.id} has a ${inst.operation} in progress`, { instanceId: inst.id });
  if (inst.volumeId === undefined || (inst.operation === 'provision' && inst.state === 'failed')) {
    throw new PollyError('FAILED_PRECONDITION', `service instance ${inst.id} was not provisioned`, { instanceId: inst.id });
  }
  const volume = await getVolume(ctx, caller, inst.volumeId);
  const key = keys.serviceBinding(inst.id, input.bindingId);
  const existing = await ctx.store.get<ServiceBinding>(key);
  if (existing) {
    if (existing.value.fingerprint !== input.fingerprint) {
      throw new PollyError('ALREADY_EXISTS', `binding ${input.bindingId} of service instance ${inst.id} already exists with other parameters`, { bindingId: input.bindingId });
    }
    return { binding: existing.value, volume, created: false };
  }
  const binding: ServiceBinding = {
    id: input.bindingId, instanceId: inst.id, owner: inst.owner, volumeId: volume.id, readOnly: input.readOnly ?? false,
    ...(input.containerDir !== undefined ? { containerDir: input.containerDir } : {}),
    fingerprint: input.fingerprint, createdAt: ctx.clock.now(),
  };
  // The instance must not change (e.g. start a deprovision) while the binding is written.
  const instRev = (await ctx.store.get(keys.serviceInstance(inst.id)))?.revision ?? 0;
  const res = await ctx.store.txn({
    compares: [{ key, revision: 0 }, { key: keys.serviceInstance(inst.id), revision: instRev }],
    ops: [{ type: 'put', key, value: binding }],
  });
  if (!res.ok) throw new PollyError('IN_PROGRESS', `service instance ${inst.id} changed meanwhile; retry`, { instanceId: inst.id });
  return { binding, volume, created: true };
}

export async function getBinding(ctx: CoreContext, caller: Caller, instanceId: string, bindingId: string): Promise<ServiceBinding> {
  checkInstanceId('binding_id', bindingId);
  const inst = await load(ctx, caller, instanceId);
  const rec = inst ? await ctx.store.get<ServiceBinding>(keys.serviceBinding(instanceId, bindingId)) : undefined;
  if (!rec) throw notFound('service binding', bindingId);
  return rec.value;
}

export async function unbindInstance(ctx: CoreContext, caller: Caller, instanceId: string, bindingId: string): Promise<ServiceBinding> {
  const binding = await getBinding(ctx, caller, instanceId, bindingId);
  await ctx.store.txn({ compares: [], ops: [{ type: 'delete', key: keys.serviceBinding(instanceId, bindingId) }] });
  return binding;
}
