import { Type, type TSchema } from '@sinclair/typebox';

/** Request and response schemas of the admin API: they validate requests and make the OpenAPI. */
const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const StringMap = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 });
const Size = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 32 })], {
  description: 'bytes, or a string with a unit (10Gi, 512Mi, 1G); a bare number in a string is GiB',
});

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Record(Type.String(), Type.Unknown()) }),
}, { $id: 'Error' });

export const VolumeSchema = Type.Object({
  id: Type.String(), name: Type.String(), service: Type.String(), pool: Type.String(), size: Type.Integer(),
  type: Type.Optional(Type.String()), iops: Type.Integer(), zone: Type.Optional(Type.String()), networkName: Type.Optional(Type.String()),
  labels: Type.Record(Type.String(), Type.String()), fields: Type.Record(Type.String(), Type.Unknown()),
  parameters: Type.Record(Type.String(), Type.String()),
  status: Type.Union(['creating', 'available', 'attached', 'deleting', 'error'].map((s) => Type.Literal(s))),
  reason: Type.Optional(Type.String()), schedulers: Type.Array(Type.String()), createdBy: Type.Optional(Type.String()),
  attachments: Type.Array(Type.Object({
    nodeId: Type.String(), accessMode: Type.String(), readOnly: Type.Boolean(), attachedAt: Type.String(),
    device: Type.Optional(Type.String()), mountPath: Type.Optional(Type.String()),
  })),
  source: Type.Optional(Type.Object({ kind: Type.String(), id: Type.String() })),
  createdAt: Type.String(), updatedAt: Type.String(),
}, { $id: 'Volume' });

export const SnapshotSchema = Type.Object({
  id: Type.String(), name: Type.String(), service: Type.String(), pool: Type.String(), volumeId: Type.String(),
  size: Type.Integer(), status: Type.String(), reason: Type.Optional(Type.String()),
  labels: Type.Record(Type.String(), Type.String()), createdBy: Type.Optional(Type.String()), createdAt: Type.String(),
}, { $id: 'Snapshot' });

export const CreateVolumeBody = Type.Object({
  service: Name,
  name: Name,
  size: Type.Optional(Size),
  type: Type.Optional(Name),
  iops: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  zone: Type.Optional(Name),
  zones: Type.Optional(Type.Array(Name, { maxItems: 64 })),
  nodes: Type.Optional(Type.Array(Name, { maxItems: 64 })),
  networkName: Type.Optional(Type.String({ maxLength: 128 })),
  labels: Type.Optional(StringMap),
  poolLabels: Type.Optional(StringMap),
  parameters: Type.Optional(StringMap),
  fields: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), { maxProperties: 64 })),
  schedulers: Type.Optional(Type.Array(Name, { maxItems: 64 })),
  source: Type.Optional(Type.Union([
    Type.Object({ snapshot: Id }, { additionalProperties: false }),
    Type.Object({ volume: Id }, { additionalProperties: false }),
  ])),
  claim: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a capacity claim (clm-…) of the caller: the volume takes its pool and reservation' })),
}, { additionalProperties: false });

export const ListVolumesQuery = Type.Object({
  service: Type.Optional(Name), name: Type.Optional(Name),
  status: Type.Optional(Type.Union(['creating', 'available', 'attached', 'deleting', 'error'].map((s) => Type.Literal(s)))),
  scheduler: Type.Optional(Name),
  label: Type.Optional(Type.Union([Type.String({ maxLength: 400 }), Type.Array(Type.String({ maxLength: 400 }), { maxItems: 32 })])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  cursor: Type.Optional(Type.String({ maxLength: 1024 })),
}, { additionalProperties: false });

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

export const LabelsBody = Type.Object({
  set: Type.Optional(StringMap),
  remove: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64 })),
}, { additionalProperties: false });

export const SchedulersBody = Type.Object({ schedulers: Type.Array(Name, { minItems: 1, maxItems: 64 }) }, { additionalProperties: false });

export const AttachBody = Type.Object({
  nodeId: Name,
  accessMode: Type.Optional(Type.Union([Type.Literal('rwo'), Type.Literal('rox'), Type.Literal('rwx')])),
  readOnly: Type.Optional(Type.Boolean()),
  claim: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a volume claim (clm-…) of the caller on this volume, consumed by the attach' })),
}, { additionalProperties: false });

export const SnapshotBody = Type.Object({ name: Name, labels: Type.Optional(StringMap) }, { additionalProperties: false });

export const ListSnapshotsQuery = Type.Object({
  service: Type.Optional(Name), volume: Type.Optional(Id),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })), cursor: Type.Optional(Type.String({ maxLength: 1024 })),
}, { additionalProperties: false });

export const AdoptBody = Type.Object({
  service: Name, pool: Name, backendId: Id, name: Name, labels: Type.Optional(StringMap),
}, { additionalProperties: false });

export const ServiceQuery = Type.Object({ service: Type.Optional(Name) }, { additionalProperties: false });

export const StoreQuery = Type.Object({
  prefix: Type.Optional(Type.String({ maxLength: 512 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  cursor: Type.Optional(Type.String({ maxLength: 1024 })),
}, { additionalProperties: false });

export const EraseBody = Type.Object({ confirm: Type.Literal(true) }, { additionalProperties: false });

export const OfferSchema = Type.Object({
  id: Type.String(), kind: Type.Union([Type.Literal('capacity'), Type.Literal('volume')]), service: Type.String(), pool: Type.String(),
  zone: Type.Optional(Type.String()), node: Type.Optional(Type.String()), types: Type.Optional(Type.Array(Type.String())),
  labels: Type.Record(Type.String(), Type.String()),
  freeBytes: Type.Optional(Type.Integer()), maxVolumeBytes: Type.Optional(Type.Integer()), maxIops: Type.Optional(Type.Integer()),
  volumeId: Type.Optional(Type.String()), name: Type.Optional(Type.String()), size: Type.Optional(Type.Integer()), type: Type.Optional(Type.String()),
}, { $id: 'Offer' });

export const ClaimSchema = Type.Object({
  id: Type.String(), kind: Type.Union([Type.Literal('capacity'), Type.Literal('volume')]), scheduler: Type.String(), offerId: Type.String(),
  service: Type.String(), pool: Type.String(), volumeId: Type.Optional(Type.String()), size: Type.Integer(),
  createdAt: Type.String(), expiresAt: Type.String(),
}, { $id: 'Claim' });

export const DeclineSchema = Type.Object({ offerId: Type.String(), scheduler: Type.String(), until: Type.String() });

export const SchedulerQuery = Type.Object({ scheduler: Type.Optional(Name) }, { additionalProperties: false });

export const OfferIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 700 }) });

export const AcceptBody = Type.Object({
  size: Type.Optional(Size),
  ttl: Type.Optional(Type.Number({ description: 'seconds the claim lives (default and maximum from claims.defaultTtl / claims.maxTtl)' })),
}, { additionalProperties: false });

export const DeclineBody = Type.Object({
  refuseSeconds: Type.Optional(Type.Number({ description: 'seconds the offer is not offered again to this scheduler (default 5)' })),
}, { additionalProperties: false });

export const pageOf = (item: TSchema) => Type.Object({ items: Type.Array(item), next: Type.Optional(Type.String()) });

export const errorResponses = {
  400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 503: ErrorSchema,
};
