import { assertAdmin } from './access.js';
import { backendError, serviceOf, type CoreContext } from './context.js';
import { PollyError, invalid } from './errors.js';
import { newId } from './ids.js';
import { keys } from './keys.js';
import { StaleWriteError } from './ledger.js';
import type { Caller, Labels, Snapshot, Volume } from './model.js';
import { checkLabels, checkName } from './names.js';
import type { BackendVolume } from './ports/storage-driver.js';

export interface UnmanagedVolume {
  readonly service: string;
  readonly pool: string;
  readonly backendId: string;
  readonly kind: 'volume' | 'snapshot';
  readonly sizeBytes: number;
}

/** Backend ids per pool id that the catalog knows (volumes and snapshots). */
async function knownBackendIds(ctx: CoreContext): Promise<Set<string>> {
  const known = new Set<string>();
  for (const prefix of [keys.volumes, keys.snapshots]) {
    let after: string | undefined;
    do {
      const page = await ctx.store.list<Volume | Snapshot>(prefix, { limit: 5000, ...(after ? { after } : {}) });
      for (const r of page.records) known.add(`${r.value.pool}\0${r.value.backendId}`);
      after = page.next;
    } while (after);
  }
  return known;
}

/** Backend volumes that Polly does not manage (the 2016 `volume get --all` view). */
export async function listUnmanaged(ctx: CoreContext, caller: Caller, service?: string): Promise<UnmanagedVolume[]> {
  assertAdmin(caller, 'listing unmanaged volumes');
  const names = service !== undefined ? [serviceOf(ctx, service).spec.name] : [...ctx.services.keys()];
  const known = await knownBackendIds(ctx);
  const out: UnmanagedVolume[] = [];
  for (const name of names) {
    const { driver, ledger } = serviceOf(ctx, name);
    for (const pool of ledger.pools) {
      let found: BackendVolume[];
      try {
        found = await driver.list(pool.spec.name);
      } catch (e) {
        throw backendError(`listing pool ${pool.id}`, e);
      }
      for (const b of found) {
        if (!known.has(`${pool.id}\0${b.backendId}`)) out.push({ service: name, pool: pool.spec.name, backendId: b.backendId, kind: b.kind, sizeBytes: b.sizeBytes });
      }
    }
  }
  return out;
}

export interface AdoptInput {
  readonly service: string;
  readonly pool: string;
  readonly backendId: string;
  readonly name: string;
  readonly labels?: Labels;
}

/** Takes an unmanaged backend volume under management as an available volume. */
export async function adoptVolume(ctx: CoreContext, caller: Caller, input: AdoptInput): Promise<Volume> {
  assertAdmin(caller, 'adopting volumes');
  checkName('name', input.name);
  checkName('pool', input.pool);
  checkName('backendId', input.backendId);
  const labels = checkLabels('labels', input.labels);
  const { spec, ledger } = serviceOf(ctx, input.service);
  const pool = ledger.pools.find((p) => p.spec.name === input.pool);
  if (!pool) throw invalid('pool', `service ${spec.name} has no pool ${input.pool}`);
  const candidate = (await listUnmanaged(ctx, caller, spec.name)).find((u) => u.pool === input.pool && u.backendId === input.backendId && u.kind === 'volume');
  if (!candidate) throw new PollyError('NOT_FOUND', `pool ${pool.id} has no unmanaged volume ${input.backendId}`, { backendId: input.backendId });
  const now = ctx.clock.now();
  const volume: Volume = {
    id: newId('vol'), name: input.name, service: spec.name, pool: pool.id, backendId: input.backendId,
    sizeBytes: Math.max(candidate.sizeBytes, 1), iops: 0, ...(pool.spec.zone !== undefined ? { zone: pool.spec.zone } : {}),
    labels, fields: {}, parameters: {}, status: 'available', schedulers: [], attachments: [], createdAt: now, updatedAt: now,
  };
  try {
    return await ledger.submit(() => ({
      compares: [{ key: keys.volumeName(spec.name, input.name), revision: 0 }],
      ops: [
        { type: 'put', key: keys.volume(volume.id), value: volume },
        { type: 'put', key: keys.volumeName(spec.name, input.name), value: { id: volume.id } },
      ],
      pools: [{ pool, delta: { provisionedBytes: volume.sizeBytes, volumes: 1 } }],
      service: { volumes: 1, bytes: volume.sizeBytes },
      result: () => volume,
    }));
  } catch (e) {
    if (e instanceof StaleWriteError) throw new PollyError('ALREADY_EXISTS', `a volume named ${input.name} already exists in service ${spec.name}`);
    throw e;
  }
}
