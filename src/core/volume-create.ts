import { assertMaySeeVolume, assertMayUseService, maySeeSnapshot, maySeeVolume } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid, notFound } from './errors.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import { StaleWriteError, type LedgerView } from './ledger.js';
import type { Caller, Claim, Labels, Volume, VolumeSource } from './model.js';
import { checkFields, checkLabels, checkName, checkText } from './names.js';
import { noPoolFits } from './placement/placement.js';
import type { PlacementRequest } from './placement/types.js';
import type { BackendRef, OperationOptions } from './ports/storage-driver.js';
import type { StoreRecord, TxnCompare, TxnOp } from './ports/store.js';
import { checkClaimId, claimForCreate, claimPlacement, loadClaim } from './claims.js';
import { loadSnapshot, loadVolume } from './records.js';
import { formatBytes } from './units.js';
import { transition } from './volume-state.js';

export interface CreateVolumeInput {
  readonly service: string;
  readonly name: string;
  readonly sizeBytes?: number;
  readonly type?: string;
  readonly iops?: number;
  readonly zones?: readonly string[];
  readonly nodes?: readonly string[];
  readonly networkName?: string;
  readonly labels?: Labels;
  readonly fields?: Readonly<Record<string, unknown>>;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly schedulers?: readonly string[];
  /** Pool labels the volume's pool must carry. */
  readonly poolLabels?: Labels;
  readonly source?: VolumeSource;
  /** A capacity claim of the caller: the volume takes its pool and its reservation. */
  readonly claim?: string;
}

export interface CreateOptions extends OperationOptions {
  readonly idempotencyKey?: string;
}

export interface CreateResult {
  readonly volume: Volume;
  /** False when an earlier identical request already made it. */
  readonly created: boolean;
}

interface Resolved {
  readonly input: CreateVolumeInput;
  readonly sizeBytes: number;
  readonly type?: string;
  readonly iops: number;
  readonly parameters: Readonly<Record<string, string>>;
  readonly source?: { readonly kind: 'snapshot' | 'volume'; readonly id: string; readonly ref: BackendRef; readonly poolId: string };
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;
/** How a reservation is turned down; an earlier volume of the same name still answers then. */
const TURNED_DOWN: ReadonlySet<string> = new Set(['QUOTA_EXCEEDED', 'INSUFFICIENT_CAPACITY', 'FAILED_PRECONDITION']);

/**
 * Create flow of DESIGN.md §5: validate → (same name? same volume) → reserve capacity and write
 * the `creating` intent in one transaction → driver → commit `available`. A failure after the
 * intent rolls it back; a crash is finished or rolled back by the reconciler.
 */
export async function createVolume(ctx: CoreContext, caller: Caller, input: CreateVolumeInput, options: CreateOptions = {}): Promise<CreateResult> {
  checkName('service', input.service);
  checkName('name', input.name);
  const { spec, driver, ledger } = serviceOf(ctx, input.service);
  assertMayUseService(caller, input.service);
  const resolved = await resolve(ctx, caller, input);
  const idemKey = options.idempotencyKey;
  if (idemKey !== undefined && !IDEMPOTENCY_KEY.test(idemKey)) throw invalid('Idempotency-Key', 'must be 1-128 characters of letters, digits, ".", "_", ":" and "-"');
  const fingerprint = idemKey !== undefined ? fingerprintOf(resolved) : ''; // only an Idempotency-Key record keeps it

  for (let attempt = 0; attempt < 5; attempt++) {
    // A new name needs no look-up first: the reservation's compare on the name finds an earlier
    // one, and a reservation turned down (quota, capacity) looks before it answers.
    const lookedFirst = attempt > 0 || idemKey !== undefined || input.claim !== undefined;
    if (lookedFirst) {
      const earlier = await findEarlier(ctx, caller, resolved, fingerprint, idemKey);
      if (earlier) return { volume: earlier, created: false };
    }

    const claim = input.claim !== undefined ? await claimForCreate(ctx, caller, input.claim, input.service, resolved.sizeBytes) : undefined;
    const now = ctx.clock.now();
    const id = newId('vol');
    let intent: { volume: Volume; revision: number };
    let intentDurable: Promise<void>;
    try {
      ({ value: intent, durable: intentDurable } = await ledger.submitStaged((view) => {
        const plan = planReservation(ctx, caller, view, resolved, id, now, fingerprint, idemKey, claim);
        return { ...plan, result: (revision) => ({ volume: plan.volume, revision }) };
      }));
    } catch (e) {
      if (e instanceof StaleWriteError) continue; // the name (or key) is taken: look at what took it
      const turnedDown = e instanceof PollyError && TURNED_DOWN.has(e.code);
      const earlier = !lookedFirst && turnedDown ? await findEarlier(ctx, caller, resolved, fingerprint) : undefined;
      if (earlier) return { volume: earlier, created: false };
      throw e;
    }

    // The intent must be on disk before the backend volume can be, so that a crash leaves
    // nothing unaccounted for; except where the driver finds and removes an empty volume without
    // a record (D95): an empty create then overlaps the intent's sync.
    const overlap = !resolved.source && driver.removeEmptyOrphan !== undefined && ledger.pool(intent.volume.pool)?.spec.node === undefined;
    intentDurable.catch(() => undefined); // awaited below; a failed sync must not go unhandled meanwhile
    if (!overlap) await intentDurable;
    let made;
    try {
      made = await driver.create(
        {
          volumeId: id, pool: ledger.pool(intent.volume.pool)!.spec.name, sizeBytes: resolved.sizeBytes,
          parameters: resolved.parameters,
          ...(resolved.source ? { source: { kind: resolved.source.kind, ref: resolved.source.ref } } : {}),
        },
        options,
      );
    } catch (e) {
      await rollbackCreate(ctx, intent.volume, idemKey ? keys.idempotency(caller.name, idemKey) : undefined).catch((re) =>
        ctx.logger.error({ err: re, volumeId: id }, 'rollback of a failed create failed; the reconciler will retry'));
      throw backendError(`creating volume ${input.name}`, e);
    }
    const [volume] = await Promise.all([commitCreate(ctx, intent.volume, made.backendId, intent.revision), intentDurable]);
    ctx.logger.info({ volumeId: id, service: spec.name, pool: volume.pool, size: volume.sizeBytes }, 'volume created');
    return { volume, created: true };
  }
  throw new PollyError('UNAVAILABLE', `volume name ${input.name} keeps changing; retry`, {}, { retryable: true });
}

async function resolve(ctx: CoreContext, caller: Caller, input: CreateVolumeInput): Promise<Resolved> {
  const { spec } = serviceOf(ctx, input.service);
  const iops = input.iops ?? 0;
  if (!Number.isInteger(iops) || iops < 0) throw invalid('iops', 'must be a non-negative integer');
  const type = input.type ?? spec.defaultType;
  if (type !== undefined) checkName('type', type);
  checkLabels('labels', input.labels);
  checkLabels('poolLabels', input.poolLabels);
  const parameters = checkLabels('parameters', input.parameters);
  for (const s of input.schedulers ?? []) checkName('schedulers', s);
  if (input.networkName !== undefined) checkText('networkName', input.networkName);
  checkFields('fields', input.fields);
  for (const z of input.zones ?? []) checkName('zones', z);
  for (const n of input.nodes ?? []) checkName('nodes', n);

  let sizeBytes = input.sizeBytes;
  if (input.claim !== undefined) {
    checkClaimId('claim', input.claim);
    if (input.source) throw invalid('claim', 'a create from a snapshot or volume goes to its source\'s pool and cannot use a claim');
    sizeBytes ??= (await loadClaim(ctx, input.claim))?.value.sizeBytes;
  }
  let source: Resolved['source'];
  if (input.source) {
    const { kind, id } = input.source;
    if (kind === 'snapshot') {
      const snap = (await loadSnapshot(ctx, id))?.value;
      const from = snap ? (await loadVolume(ctx, snap.volumeId))?.value : undefined;
      if (!snap || !maySeeSnapshot(caller, snap, from)) throw notFound('snapshot', id);
      if (snap.service !== input.service) throw invalid('source.snapshot', `snapshot ${id} belongs to service ${snap.service}, not ${input.service}`);
      if (snap.status !== 'ready') throw new PollyError('FAILED_PRECONDITION', `snapshot ${id} is ${snap.status}, not ready`);
      source = { kind, id, ref: { pool: poolName(snap.pool), backendId: snap.backendId }, poolId: snap.pool };
      sizeBytes ??= snap.sizeBytes;
      if (sizeBytes < snap.sizeBytes) throw new PollyError('OUT_OF_RANGE', `size ${formatBytes(sizeBytes)} is smaller than snapshot ${id} (${formatBytes(snap.sizeBytes)})`);
    } else {
      const vol = assertMaySeeVolume(caller, (await loadVolume(ctx, id))?.value, id);
      if (vol.service !== input.service) throw invalid('source.volume', `volume ${id} belongs to service ${vol.service}, not ${input.service}`);
      if (vol.status !== 'available' && vol.status !== 'attached') throw new PollyError('FAILED_PRECONDITION', `volume ${id} is ${vol.status}; it cannot be cloned now`);
      source = { kind, id, ref: { pool: poolName(vol.pool), backendId: vol.backendId }, poolId: vol.pool };
      sizeBytes ??= vol.sizeBytes;
      if (sizeBytes < vol.sizeBytes) throw new PollyError('OUT_OF_RANGE', `size ${formatBytes(sizeBytes)} is smaller than volume ${id} (${formatBytes(vol.sizeBytes)})`);
    }
  }
  sizeBytes ??= spec.defaultSizeBytes;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('size', 'must be a positive number of bytes');
  return { input, sizeBytes, ...(type !== undefined ? { type } : {}), iops, parameters, ...(source ? { source } : {}) };
}

/** The pool part of a pool id; pool ids are `<service>/<pool>` and only built, never split, elsewhere. */
function poolName(id: string): string {
  return id.slice(id.indexOf('/') + 1);
}

/** Identifies a request for Idempotency-Key reuse: every field of it, in a stable order. */
function fingerprintOf(r: Resolved): string {
  const stable = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, stable(x)]) : v;
  return JSON.stringify(stable({ ...r.input, sizeBytes: r.sizeBytes, type: r.type ?? null, iops: r.iops }));
}

function sameRequest(v: Volume, r: Resolved): boolean {
  const src = v.source;
  return v.sizeBytes === r.sizeBytes && (v.type ?? undefined) === r.type && v.iops === r.iops &&
    (src?.kind ?? null) === (r.source?.kind ?? null) && (src?.id ?? null) === (r.source?.id ?? null) &&
    JSON.stringify(Object.entries(v.parameters).sort()) === JSON.stringify(Object.entries(r.parameters).sort());
}

/** An earlier identical request (same name, or same idempotency key) that already made it. */
async function findEarlier(ctx: CoreContext, caller: Caller, r: Resolved, fingerprint: string, idemKey?: string): Promise<Volume | undefined> {
  if (idemKey !== undefined) {
    const rec = await ctx.store.get<{ fingerprint: string; volumeId: string }>(keys.idempotency(caller.name, idemKey));
    if (rec) {
      if (rec.value.fingerprint !== fingerprint) {
        throw new PollyError('CONFLICT', 'Idempotency-Key was used before with a different request', { idempotencyKey: idemKey });
      }
      const v = (await loadVolume(ctx, rec.value.volumeId))?.value;
      if (v) return settled(v);
    }
  }
  const byName = await ctx.store.get<{ id: string }>(keys.volumeName(r.input.service, r.input.name));
  if (!byName) return undefined;
  const v = (await loadVolume(ctx, byName.value.id))?.value;
  if (!v) return undefined;
  if (!maySeeVolume(caller, v)) {
    throw new PollyError('ALREADY_EXISTS', `the name ${r.input.name} is taken in service ${r.input.service}`, { service: r.input.service, name: r.input.name });
  }
  if (!sameRequest(v, r)) {
    throw new PollyError('ALREADY_EXISTS', `a volume named ${r.input.name} already exists in service ${r.input.service} with different properties`, {
      service: r.input.service, name: r.input.name,
    });
  }
  return settled(v);
}

function settled(v: Volume): Volume {
  if (v.status === 'creating') throw new PollyError('IN_PROGRESS', `volume ${v.name} is still being created; retry`, { volumeId: v.id });
  if (v.status === 'deleting') throw new PollyError('IN_PROGRESS', `volume ${v.name} is being deleted; retry`, { volumeId: v.id });
  return v;
}

function planReservation(
  ctx: CoreContext, caller: Caller, view: LedgerView, r: Resolved, id: string, now: number, fingerprint: string, idemKey?: string,
  claim?: StoreRecord<Claim>,
): { volume: Volume; compares: TxnCompare[]; ops: TxnOp[]; pools: [{ pool: NonNullable<ReturnType<LedgerView['pool']>>; delta: { reservedBytes: number; volumes: number } }]; service: { volumes: number; bytes: number } } {
  const quota = view.spec.quota;
  const claimedBytes = claim?.value.sizeBytes ?? 0; // already counted in the service's bytes
  if (quota.maxVolumes !== undefined && view.usage.volumes + 1 > quota.maxVolumes) {
    throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} already has ${view.usage.volumes} of at most ${quota.maxVolumes} volumes`, { quota });
  }
  if (quota.maxBytes !== undefined && view.usage.bytes - claimedBytes + r.sizeBytes > quota.maxBytes) {
    throw new PollyError('QUOTA_EXCEEDED', `service ${view.spec.name} would use ${formatBytes(view.usage.bytes - claimedBytes + r.sizeBytes)} of at most ${formatBytes(quota.maxBytes)}`, { quota });
  }
  const request: PlacementRequest = {
    service: view.spec.name, sizeBytes: r.sizeBytes, iops: r.iops,
    zones: r.input.zones ?? [], nodes: r.input.nodes ?? [], requiredLabels: r.input.poolLabels ?? {},
    ...(r.type !== undefined ? { type: r.type } : {}),
    ...(r.source ? { pools: [r.source.poolId] } : {}),
  };
  let pool;
  let consumed: ReturnType<typeof claimPlacement> | undefined;
  if (claim) {
    consumed = claimPlacement(ctx.placement, view, claim, request);
    pool = consumed.pool;
  } else {
    const placed = ctx.placement.place(request, view.pools, view.zoneVolumes);
    if (!placed.ok) throw noPoolFits(request, placed.verdicts);
    pool = view.pool(placed.pool.id)!;
  }
  const volume: Volume = {
    id, name: r.input.name, service: view.spec.name, pool: pool.id, backendId: id, sizeBytes: r.sizeBytes,
    ...(r.type !== undefined ? { type: r.type } : {}),
    iops: r.iops,
    ...(pool.spec.zone !== undefined ? { zone: pool.spec.zone } : {}),
    ...(r.input.networkName !== undefined ? { networkName: r.input.networkName } : {}),
    labels: { ...(r.input.labels ?? {}) }, fields: { ...(r.input.fields ?? {}) }, parameters: r.parameters,
    status: 'creating', schedulers: [...new Set(r.input.schedulers ?? [])],
    ...(caller.kind === 'scheduler' ? { createdBy: caller.name } : {}),
    attachments: [],
    ...(r.source ? { source: { kind: r.source.kind, id: r.source.id } } : {}),
    ...(ctx.replica !== undefined ? { replica: ctx.replica } : {}),
    createdAt: now, updatedAt: now,
  };
  const compares: TxnCompare[] = [{ key: keys.volumeName(view.spec.name, r.input.name), revision: 0 }];
  const ops: TxnOp[] = [
    { type: 'put', key: keys.volume(id), value: volume },
    { type: 'put', key: keys.volumeName(view.spec.name, r.input.name), value: { id } },
  ];
  if (idemKey !== undefined) {
    const key = keys.idempotency(caller.name, idemKey);
    compares.push({ key, revision: 0 });
    ops.push({ type: 'put', key, value: { fingerprint, volumeId: id, createdAt: now } });
  }
  if (consumed) {
    compares.push(...consumed.compares);
    ops.push(...consumed.ops);
  }
  return {
    volume, compares, ops,
    pools: [{ pool, delta: { reservedBytes: r.sizeBytes - claimedBytes, volumes: 1 } }],
    service: { volumes: 1, bytes: r.sizeBytes - claimedBytes },
  };
}

/**
 * Marks a created volume available and turns its reservation into provisioned bytes. `revision`
 * is the intent's, when the caller wrote it; the compare below catches any change since.
 *
 * The commit is deferred (docs/decisions.md D90): the intent is durable and the backend volume
 * exists, so should a power loss undo this write, the start-up reconcile finishes the intent
 * again. The next durable write of the store makes it durable anyway.
 */
export async function commitCreate(ctx: CoreContext, intent: Volume, backendId: string, revision?: number): Promise<Volume> {
  const { ledger } = serviceOf(ctx, intent.service);
  const current = revision === undefined ? await loadVolume(ctx, intent.id) : { value: intent, revision };
  if (!current || current.value.status !== 'creating') {
    throw new PollyError('CONFLICT', `volume ${intent.id} changed while it was being created`, { volumeId: intent.id });
  }
  const volume = { ...transition(current.value, 'available', ctx.clock.now()), backendId };
  return ledger.submit((view) => {
    const pool = view.pool(intent.pool);
    if (!pool) throw new PollyError('INTERNAL', `pool ${intent.pool} of volume ${intent.id} is not configured`);
    return {
      compares: [{ key: keys.volume(intent.id), revision: current.revision }],
      ops: [{ type: 'put', key: keys.volume(intent.id), value: volume }],
      pools: [{ pool, delta: { reservedBytes: -intent.sizeBytes, provisionedBytes: intent.sizeBytes } }],
      result: () => volume,
      durability: 'deferred',
    };
  });
}

/** Removes a `creating` intent and gives its reservation back (the backend holds nothing). */
export async function rollbackCreate(ctx: CoreContext, intent: Volume, idempotencyKey?: string): Promise<void> {
  const { ledger } = serviceOf(ctx, intent.service);
  const current = await loadVolume(ctx, intent.id);
  if (!current) return;
  await ledger.submit((view) => {
    const pool = view.pool(intent.pool);
    const ops: TxnOp[] = [
      { type: 'delete', key: keys.volume(intent.id) },
      { type: 'delete', key: keys.volumeName(intent.service, intent.name) },
    ];
    if (idempotencyKey) ops.push({ type: 'delete', key: idempotencyKey });
    return {
      compares: [{ key: keys.volume(intent.id), revision: current.revision }],
      ops,
      pools: pool ? [{ pool, delta: { reservedBytes: -intent.sizeBytes, volumes: -1 } }] : [],
      service: { volumes: -1, bytes: -intent.sizeBytes },
      result: () => undefined,
    };
  });
}
