import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { invalid, notFound } from '../../../core/errors.js';
import type { Caller, Volume } from '../../../core/model.js';
import type { Polly } from '../../../core/polly.js';
import { GiB } from '../../../core/units.js';
import { instanceFor, localDevices, nodeOf } from '../headers.js';
import type { LibstorageService } from '../identities.js';
import { ATTACH, attachmentsMask, operationOf, type LibstorageDeps } from '../libstorage-api.js';
import { snapshotView, volumeView } from '../views.js';

/** Sizes are whole GiB; 1 PiB is the most a libStorage client may ask for. */
const MAX_GIB = 1024 * 1024;
const Opts = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]);

export const CreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  availabilityZone: Type.Optional(Type.String({ maxLength: 128 })),
  encrypted: Type.Optional(Type.Boolean()),
  encryptionKey: Type.Optional(Type.String({ maxLength: 1024 })),
  iops: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  size: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_GIB })),
  type: Type.Optional(Type.String({ maxLength: 128 })),
  opts: Type.Optional(Opts),
}, { additionalProperties: false });

const CopyBody = Type.Object({
  volumeName: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  opts: Type.Optional(Opts),
}, { additionalProperties: false });
const SnapshotBody = Type.Object({ snapshotName: Type.String({ minLength: 1, maxLength: 128 }), opts: Type.Optional(Opts) }, { additionalProperties: false });
const AttachBody = Type.Object({
  nextDeviceName: Type.Optional(Type.String({ maxLength: 256 })), force: Type.Optional(Type.Boolean()), opts: Type.Optional(Opts),
}, { additionalProperties: false });
const DetachBody = Type.Object({ force: Type.Optional(Type.Boolean()), opts: Type.Optional(Opts) }, { additionalProperties: false });
const AnyBody = Type.Union([CopyBody, SnapshotBody, AttachBody, DetachBody, Type.Null()]);

type Params = { service: string; volumeID: string };

/** Every volume of a libStorage service that its identity may see. */
export async function visibleVolumes(polly: Polly, caller: Caller, s: LibstorageService): Promise<Volume[]> {
  const out: Volume[] = [];
  let cursor: string | undefined;
  do {
    const page = await polly.listVolumes(caller, { service: s.service }, 10_000, cursor);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  return out;
}

export function volumeRoutes(app: FastifyInstance, deps: LibstorageDeps): void {
  const { polly, identities } = deps;

  const contextOf = async (req: FastifyRequest, s: LibstorageService) => {
    const caller = await identities.authorize(req, s);
    const node = nodeOf(instanceFor(req, s.driverName, s.name));
    return { caller, node };
  };

  /** A service's volumes as an id → volume map, filtered and shaped by the attachments mask. */
  const volumeMap = async (req: FastifyRequest, s: LibstorageService) => {
    const mask = attachmentsMask((req.query as Record<string, unknown>)['attachments']);
    const { caller, node } = await contextOf(req, s);
    if (mask & (ATTACH.mine | ATTACH.devices) && node === undefined) {
      throw invalid('Libstorage-Instanceid', `the attachments mask ${mask} needs an instance id for driver ${s.driverName}`);
    }
    const devices = mask & ATTACH.devices ? localDevices(req, s.driverName) : undefined;
    const out: Record<string, ReturnType<typeof volumeView>> = {};
    for (const v of await visibleVolumes(polly, caller, s)) {
      const attached = mask & ATTACH.mine ? v.attachments.some((a) => a.nodeId === node) : v.attachments.length > 0;
      if (mask & ATTACH.attachedOnly && !attached) continue;
      if (mask & ATTACH.unattachedOnly && attached) continue;
      out[v.id] = volumeView(v, {
        attachments: (mask & (ATTACH.all | ATTACH.mine | ATTACH.devices)) !== 0, mineOnly: (mask & ATTACH.mine) !== 0 && (mask & ATTACH.all) === 0,
        ...(node !== undefined ? { node } : {}), ...(devices ? { devices } : {}),
      });
    }
    return out;
  };

  const load = async (caller: Caller, s: LibstorageService, id: string): Promise<Volume> => {
    const v = await polly.getVolume(caller, id);
    if (v.service !== s.service) throw notFound('volume', id);
    return v;
  };

  /** Detaches every volume of a service attached to the requesting instance. */
  const detachAll = async (req: FastifyRequest, s: LibstorageService) => {
    const { caller, node } = await contextOf(req, s);
    if (node === undefined) throw invalid('Libstorage-Instanceid', `detaching all volumes needs an instance id for driver ${s.driverName}`);
    const out: Record<string, ReturnType<typeof volumeView>> = {};
    for (const v of await visibleVolumes(polly, caller, s)) {
      if (!v.attachments.some((a) => a.nodeId === node)) continue;
      out[v.id] = volumeView(await polly.detachVolume(caller, v.id, node), { attachments: true, node });
    }
    return out;
  };

  app.get('/volumes', async (req) => {
    const all = await identities.authorizeAll(req);
    const out: Record<string, unknown> = {};
    for (const s of all) out[s.name] = await volumeMap(req, s);
    return out;
  });

  app.post('/volumes', { schema: { body: Type.Union([DetachBody, Type.Null()]) } }, async (req) => {
    operationOf(req, ['detach']);
    const all = await identities.authorizeAll(req);
    const out: Record<string, unknown> = {};
    for (const s of all) out[s.name] = await detachAll(req, s);
    return out;
  });

  app.get<{ Params: { service: string } }>('/volumes/:service', async (req) => volumeMap(req, identities.get(req.params.service)));

  app.post<{ Params: { service: string } }>('/volumes/:service', { schema: { body: Type.Union([CreateBody, DetachBody, Type.Null()]) } }, async (req, reply) => {
    const s = identities.get(req.params.service);
    const q = (req.query ?? {}) as Record<string, unknown>;
    if ('detach' in q) return detachAll(req, s);
    if (Object.keys(q).length > 0) throw invalid('query', `unknown operation ?${Object.keys(q)[0]!.slice(0, 32)}; creates take no query, detaching all takes ?detach`);
    if (req.body === null || req.body === undefined || !('name' in (req.body as object))) throw invalid('name', 'is required');
    const b = req.body as Static<typeof CreateBody>;
    if (b.encrypted === true) throw invalid('encrypted', 'volume encryption is not offered by this server');
    const { caller, node } = await contextOf(req, s);
    const { volume, created } = await polly.createVolume(caller, {
      service: s.service, name: b.name,
      ...(b.size ? { sizeBytes: b.size * GiB } : {}),
      ...(b.type ? { type: b.type } : {}),
      ...(b.iops ? { iops: b.iops } : {}),
      ...(b.availabilityZone ? { zones: [b.availabilityZone] } : {}),
      ...(b.opts ? { fields: b.opts } : {}),
      schedulers: [s.name],
    });
    reply.raw.setHeader('Location', `/volumes/${s.name}/${volume.id}`);
    void reply.code(created ? 201 : 200);
    return volumeView(volume, { attachments: true, ...(node !== undefined ? { node } : {}) });
  });

  app.get<{ Params: Params }>('/volumes/:service/:volumeID', async (req) => {
    const s = identities.get(req.params.service);
    const mask = attachmentsMask((req.query as Record<string, unknown>)['attachments']);
    const { caller, node } = await contextOf(req, s);
    const v = await load(caller, s, req.params.volumeID);
    const devices = mask & ATTACH.devices ? localDevices(req, s.driverName) : undefined;
    return volumeView(v, { attachments: mask !== 0 || node !== undefined, ...(node !== undefined ? { node } : {}), ...(devices ? { devices } : {}) });
  });

  app.post<{ Params: Params }>('/volumes/:service/:volumeID', { schema: { body: AnyBody } }, async (req, reply) => {
    const s = identities.get(req.params.service);
    const op = operationOf(req, ['copy', 'snapshot', 'attach', 'detach']);
    const { caller, node } = await contextOf(req, s);
    const v = await load(caller, s, req.params.volumeID);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const only = (allowed: readonly string[]) => {
      const extra = Object.keys(body).find((k) => !allowed.includes(k));
      if (extra !== undefined) throw invalid(extra.slice(0, 64), `is not a field of ?${op}`);
    };
    switch (op) {
      case 'copy': {
        only(['volumeName', 'name', 'opts']);
        const b = body as Static<typeof CopyBody>;
        const name = b.volumeName ?? b.name;
        if (name === undefined) throw invalid('volumeName', 'is required');
        const { volume } = await polly.createVolume(caller, { service: s.service, name, source: { kind: 'volume', id: v.id }, schedulers: [s.name] });
        return volumeView(volume, { attachments: true, ...(node !== undefined ? { node } : {}) });
      }
      case 'snapshot': {
        only(['snapshotName', 'opts']);
        const b = body as Partial<Static<typeof SnapshotBody>>;
        if (b.snapshotName === undefined) throw invalid('snapshotName', 'is required');
        const { snapshot } = await polly.createSnapshot(caller, { volumeId: v.id, name: b.snapshotName });
        return snapshotView(snapshot);
      }
      case 'attach': {
        only(['nextDeviceName', 'force', 'opts']);
        if (node === undefined) throw invalid('Libstorage-Instanceid', `attaching needs an instance id for driver ${s.driverName}`);
        const b = body as Static<typeof AttachBody>;
        if (b.force) for (const a of v.attachments) if (a.nodeId !== node) await polly.detachVolume(caller, v.id, a.nodeId);
        const attached = await polly.attachVolume(caller, v.id, { nodeId: node });
        void reply.code(200);
        return { volume: volumeView(attached, { attachments: true, node }), attachToken: '' };
      }
      default: {
        only(['force', 'opts']);
        let cur = v;
        const from = node !== undefined ? [node] : v.attachments.map((a) => a.nodeId);
        for (const n of from) cur = await polly.detachVolume(caller, v.id, n);
        return volumeView(cur, { attachments: true, ...(node !== undefined ? { node } : {}) });
      }
    }
  });

  app.delete<{ Params: Params }>('/volumes/:service/:volumeID', async (req, reply) => {
    const s = identities.get(req.params.service);
    const q = (req.query ?? {}) as Record<string, unknown>;
    const { caller } = await contextOf(req, s);
    const v = await load(caller, s, req.params.volumeID);
    if ('force' in q && q['force'] !== 'false') for (const a of v.attachments) await polly.detachVolume(caller, v.id, a.nodeId);
    await polly.deleteVolume(caller, v.id);
    return reply.code(204).send();
  });
}
