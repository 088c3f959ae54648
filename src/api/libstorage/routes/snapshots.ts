import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { PollyError, invalid, notFound } from '../../../core/errors.js';
import type { Caller, Snapshot } from '../../../core/model.js';
import { GiB } from '../../../core/units.js';
import type { LibstorageService } from '../identities.js';
import { operationOf, type LibstorageDeps } from '../libstorage-api.js';
import { snapshotView, volumeView } from '../views.js';
import { instanceFor, nodeOf } from '../headers.js';

const CreateFromSnapshot = Type.Object({
  volumeName: Type.String({ minLength: 1, maxLength: 128 }),
  size: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 * 1024 })),
  availabilityZone: Type.Optional(Type.String({ maxLength: 128 })),
  type: Type.Optional(Type.String({ maxLength: 128 })),
  iops: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  opts: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
}, { additionalProperties: false });
const CopySnapshot = Type.Object({
  snapshotName: Type.String({ minLength: 1, maxLength: 128 }),
  destinationID: Type.Optional(Type.String({ maxLength: 128 })),
  opts: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
}, { additionalProperties: false });

type Params = { service: string; snapshotID: string };

export function snapshotRoutes(app: FastifyInstance, deps: LibstorageDeps): void {
  const { polly, identities } = deps;

  const snapshotMap = async (req: FastifyRequest, s: LibstorageService) => {
    const caller = await identities.authorize(req, s);
    const out: Record<string, ReturnType<typeof snapshotView>> = {};
    let cursor: string | undefined;
    do {
      const page = await polly.listSnapshots(caller, { service: s.service }, 10_000, cursor);
      for (const snap of page.items) out[snap.id] = snapshotView(snap);
      cursor = page.next;
    } while (cursor !== undefined);
    return out;
  };

  const load = async (caller: Caller, s: LibstorageService, id: string): Promise<Snapshot> => {
    const snap = await polly.getSnapshot(caller, id);
    if (snap.service !== s.service) throw notFound('snapshot', id);
    return snap;
  };

  app.get('/snapshots', async (req) => {
    const all = await identities.authorizeAll(req);
    const out: Record<string, unknown> = {};
    for (const s of all) out[s.name] = await snapshotMap(req, s);
    return out;
  });

  app.get<{ Params: { service: string } }>('/snapshots/:service', async (req) => snapshotMap(req, identities.get(req.params.service)));

  // The blueprint: snapshots are made from volumes (POST /volumes/{service}/{id}?snapshot); this always fails.
  app.post<{ Params: { service: string } }>('/snapshots/:service', async (req) => {
    const s = identities.get(req.params.service);
    await identities.authorize(req, s);
    throw invalid('snapshot', `snapshots are created with POST /volumes/${s.name}/{volumeID}?snapshot`);
  });

  app.get<{ Params: Params }>('/snapshots/:service/:snapshotID', async (req) => {
    const s = identities.get(req.params.service);
    const caller = await identities.authorize(req, s);
    return snapshotView(await load(caller, s, req.params.snapshotID));
  });

  app.post<{ Params: Params }>('/snapshots/:service/:snapshotID', { schema: { body: Type.Union([CreateFromSnapshot, CopySnapshot]) } }, async (req) => {
    const s = identities.get(req.params.service);
    const op = operationOf(req, ['create', 'copy']);
    const caller = await identities.authorize(req, s);
    const snap = await load(caller, s, req.params.snapshotID);
    if (op === 'copy') {
      if (!('snapshotName' in (req.body as object))) throw invalid('snapshotName', 'is required');
      const c = req.body as Static<typeof CopySnapshot>;
      // Polly has no regions or accounts to copy into: only a copy within the service is made.
      if (c.destinationID !== undefined && c.destinationID !== '' && c.destinationID !== s.name) {
        throw invalid('destinationID', `snapshots are copied within service ${s.name}; copying to ${JSON.stringify(c.destinationID)} is not offered`);
      }
      return snapshotView(await polly.copySnapshot(caller, snap.id, c.snapshotName));
    }
    if (!('volumeName' in (req.body as object))) throw invalid('volumeName', 'is required');
    const b = req.body as Static<typeof CreateFromSnapshot>;
    const { volume } = await polly.createVolume(caller, {
      service: s.service, name: b.volumeName, source: { kind: 'snapshot', id: snap.id },
      ...(b.size ? { sizeBytes: b.size * GiB } : {}), ...(b.type ? { type: b.type } : {}), ...(b.iops ? { iops: b.iops } : {}),
      ...(b.availabilityZone ? { zones: [b.availabilityZone] } : {}), ...(b.opts ? { fields: b.opts } : {}),
      schedulers: [s.name],
    });
    const node = nodeOf(instanceFor(req, s.driverName, s.name));
    return volumeView(volume, { attachments: true, ...(node !== undefined ? { node } : {}) });
  });

  app.delete<{ Params: Params }>('/snapshots/:service/:snapshotID', async (req, reply) => {
    const s = identities.get(req.params.service);
    const caller = await identities.authorize(req, s);
    const snap = await load(caller, s, req.params.snapshotID);
    await polly.deleteSnapshot(caller, snap.id);
    return reply.code(204).send();
  });
}
