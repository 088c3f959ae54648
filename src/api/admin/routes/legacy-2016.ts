import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { PollyError } from '../../../core/errors.js';
import type { Caller, Volume } from '../../../core/model.js';
import { GiB } from '../../../core/units.js';
import { callerOf, type AdminDeps } from '../request-context.js';
import { legacyUnmanagedView, legacyVolumeView } from '../views.js';

/**
 * The 2016 Polly admin API (specs/polly-2016/polly.apib): same paths, same JSON field names.
 * Sizes are GiB; `volumeid` is Polly's volume id.
 */
const Name = Type.String({ minLength: 1, maxLength: 128 });
const CreateBody = Type.Object({
  service: Name, name: Name, volumeType: Type.Optional(Type.String({ maxLength: 128 })),
  size: Type.Optional(Type.Integer({ minimum: 1 })), iops: Type.Optional(Type.Integer({ minimum: 0 })),
  availabilityZone: Type.Optional(Type.String({ maxLength: 128 })), networkName: Type.Optional(Type.String({ maxLength: 128 })),
  schedulers: Type.Optional(Type.Array(Name, { maxItems: 64 })),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  fields: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}, { additionalProperties: false });
const VolumeIdBody = { volumeID: Type.String({ minLength: 1, maxLength: 200 }) };
const SchedulersBody = Type.Object({ ...VolumeIdBody, schedulers: Type.Array(Name, { minItems: 1, maxItems: 64 }) }, { additionalProperties: false });
const LabelBody = Type.Object({ ...VolumeIdBody, labels: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false });
// The blueprint's example sends the keys in `schedulers`; `labels` is accepted too.
const LabelRemoveBody = Type.Object({
  ...VolumeIdBody,
  labels: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 })),
  schedulers: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 })),
}, { additionalProperties: false });

/** Core's names for the create fields that the 2016 body spells differently. */
const LEGACY_FIELDS: Readonly<Record<string, string>> = { type: 'volumeType', zones: 'availabilityZone', sizeBytes: 'size' };

/** Rewrites a core INVALID_ARGUMENT so that it names the field as the 2016 client sent it. */
async function inLegacyTerms<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    const field = e instanceof PollyError && e.code === 'INVALID_ARGUMENT' ? e.details['field'] : undefined;
    const legacy = typeof field === 'string' ? LEGACY_FIELDS[field] : undefined;
    if (!(e instanceof PollyError) || legacy === undefined || typeof field !== 'string') throw e;
    throw new PollyError(e.code, `${legacy}${e.message.slice(field.length)}`, { ...e.details, field: legacy }, { cause: e });
  }
}

async function allVolumes(deps: AdminDeps, caller: Caller): Promise<Volume[]> {
  const out: Volume[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.polly.listVolumes(caller, {}, 10_000, cursor);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

export function legacyRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { polly } = deps;
  const tags = ['2016'];
  const caller = (req: FastifyRequest) => callerOf(deps, req);

  app.get('/admin/version', { schema: { tags } }, async () => ({
    versionPollyAdminAPI: 'v0.1.0', versionPollySchedulerAPI: 'v0.1.0', versionPollyBuild: deps.version,
  }));

  app.get('/admin/volumes', { schema: { tags } }, async (req) => (await allVolumes(deps, caller(req))).map(legacyVolumeView));

  app.get('/admin/volumesall', { schema: { tags } }, async (req) => {
    const c = caller(req);
    const managed = (await allVolumes(deps, c)).map(legacyVolumeView);
    const unmanaged = c.kind === 'admin' ? (await polly.listUnmanaged(c)).filter((u) => u.kind === 'volume').map(legacyUnmanagedView) : [];
    return [...managed, ...unmanaged];
  });

  app.post('/admin/volumes', { schema: { tags, body: CreateBody } }, async (req, reply) => {
    const b = req.body as Static<typeof CreateBody>;
    const { volume } = await inLegacyTerms(polly.createVolume(caller(req), {
      service: b.service, name: b.name, ...(b.size !== undefined ? { sizeBytes: b.size * GiB } : {}),
      ...(b.volumeType ? { type: b.volumeType } : {}), ...(b.iops !== undefined ? { iops: b.iops } : {}),
      ...(b.availabilityZone ? { zones: [b.availabilityZone] } : {}), ...(b.networkName ? { networkName: b.networkName } : {}),
      ...(b.schedulers ? { schedulers: b.schedulers.filter((s) => s !== '') } : {}),
      ...(b.labels ? { labels: b.labels } : {}), ...(b.fields ? { fields: b.fields } : {}),
    }));
    return reply.header('location', `/admin/volumes/${volume.id}`).send(legacyVolumeView(volume));
  });

  const IdParams = Type.Object({ volumeID: Type.String({ minLength: 1, maxLength: 200 }) });
  app.get('/admin/volumes/:volumeID', { schema: { tags, params: IdParams } }, async (req) =>
    legacyVolumeView(await polly.getVolume(caller(req), (req.params as Static<typeof IdParams>).volumeID)));
  app.delete('/admin/volumes/:volumeID', { schema: { tags, params: IdParams } }, async (req) =>
    [legacyVolumeView(await polly.deleteVolume(caller(req), (req.params as Static<typeof IdParams>).volumeID))]);

  app.post('/admin/volumeoffer', { schema: { tags, body: SchedulersBody } }, async (req) => {
    const b = req.body as Static<typeof SchedulersBody>;
    return legacyVolumeView(await polly.offerVolume(caller(req), b.volumeID, b.schedulers));
  });
  app.post('/admin/volumeofferrevoke', { schema: { tags, body: SchedulersBody } }, async (req) => {
    const b = req.body as Static<typeof SchedulersBody>;
    return legacyVolumeView(await polly.revokeVolume(caller(req), b.volumeID, b.schedulers));
  });
  app.post('/admin/volumelabel', { schema: { tags, body: LabelBody } }, async (req) => {
    const b = req.body as Static<typeof LabelBody>;
    return legacyVolumeView(await polly.labelVolume(caller(req), b.volumeID, b.labels, []));
  });
  for (const path of ['/admin/volumelabelsremove', '/admin/volumelabelremove']) {
    app.post(path, { schema: { tags, body: LabelRemoveBody } }, async (req) => {
      const b = req.body as Static<typeof LabelRemoveBody>;
      return legacyVolumeView(await polly.labelVolume(caller(req), b.volumeID, {}, b.labels ?? b.schedulers ?? []));
    });
  }
}
