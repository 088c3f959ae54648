import type { FastifyInstance } from 'fastify';
import type { Static } from '@sinclair/typebox';
import type { VolumeSource, VolumeStatus } from '../../../core/model.js';
import { parseSize } from '../../../core/units.js';
import { callerOf, parseLabelQuery, wantsAsync, type AdminDeps } from '../request-context.js';
import {
  AttachBody, CreateVolumeBody, IdParams, LabelsBody, ListVolumesQuery, SchedulersBody, VolumeSchema, errorResponses, pageOf,
} from '../schemas.js';
import { volumeView } from '../views.js';
import { Type } from '@sinclair/typebox';

export function volumeRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { polly } = deps;
  const one = { 200: VolumeSchema, ...errorResponses };

  app.get('/v1/volumes', { schema: { tags: ['volumes'], querystring: ListVolumesQuery, response: { 200: pageOf(VolumeSchema), ...errorResponses } } }, async (req) => {
    const q = req.query as Static<typeof ListVolumesQuery>;
    const labels = parseLabelQuery(q.label);
    const page = await polly.listVolumes(callerOf(deps, req), {
      ...(q.service ? { service: q.service } : {}), ...(q.name ? { name: q.name } : {}), ...(q.status ? { status: q.status as VolumeStatus } : {}),
      ...(q.scheduler ? { scheduler: q.scheduler } : {}), ...(labels ? { labels } : {}),
    }, q.limit ?? 500, q.cursor);
    return { items: page.items.map(volumeView), ...(page.next ? { next: page.next } : {}) };
  });

  app.post('/v1/volumes', { schema: { tags: ['volumes'], body: CreateVolumeBody, response: { 200: VolumeSchema, 201: VolumeSchema, 202: Type.Object({ operation: Type.Unknown() }), ...errorResponses, 507: errorResponses[409] } } }, async (req, reply) => {
    const b = req.body as Static<typeof CreateVolumeBody>;
    const caller = callerOf(deps, req);
    const source: VolumeSource | undefined = b.source ? ('snapshot' in b.source ? { kind: 'snapshot', id: b.source.snapshot } : { kind: 'volume', id: b.source.volume }) : undefined;
    const zones = b.zones ?? (b.zone !== undefined ? [b.zone] : undefined);
    const input = {
      service: b.service, name: b.name, ...(b.size !== undefined ? { sizeBytes: parseSize('size', typeof b.size === 'number' ? `${b.size}B` : b.size) } : {}),
      ...(b.type !== undefined ? { type: b.type } : {}), ...(b.iops !== undefined ? { iops: b.iops } : {}),
      ...(zones ? { zones } : {}), ...(b.nodes ? { nodes: b.nodes } : {}), ...(b.networkName !== undefined ? { networkName: b.networkName } : {}),
      ...(b.labels ? { labels: b.labels } : {}), ...(b.poolLabels ? { poolLabels: b.poolLabels } : {}),
      ...(b.parameters ? { parameters: b.parameters } : {}), ...(b.fields ? { fields: b.fields } : {}),
      ...(b.schedulers ? { schedulers: b.schedulers } : {}), ...(source ? { source } : {}), ...(b.claim !== undefined ? { claim: b.claim } : {}),
    };
    const idempotencyKey = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
    const options = idempotencyKey !== undefined ? { idempotencyKey } : {};
    if (source && wantsAsync(req)) {
      const op = polly.operations.start(caller, 'create-volume', async (onProgress) => volumeView((await polly.createVolume(caller, input, { ...options, onProgress })).volume));
      return reply.code(202).header('location', `/v1/operations/${op.id}`).send({ operation: op });
    }
    const { volume, created } = await polly.createVolume(caller, input, options);
    return reply.code(created ? 201 : 200).header('location', `/v1/volumes/${volume.id}`).send(volumeView(volume));
  });

  app.get('/v1/volumes/:id', { schema: { tags: ['volumes'], params: IdParams, response: one } }, async (req) =>
    volumeView(await polly.getVolume(callerOf(deps, req), (req.params as { id: string }).id)));

  app.delete('/v1/volumes/:id', { schema: { tags: ['volumes'], params: IdParams, response: one } }, async (req) =>
    volumeView(await polly.deleteVolume(callerOf(deps, req), (req.params as { id: string }).id)));

  app.post('/v1/volumes/:id/labels', { schema: { tags: ['volumes'], params: IdParams, body: LabelsBody, response: one } }, async (req) => {
    const b = req.body as Static<typeof LabelsBody>;
    return volumeView(await polly.labelVolume(callerOf(deps, req), (req.params as { id: string }).id, b.set ?? {}, b.remove ?? []));
  });

  app.post('/v1/volumes/:id/offer', { schema: { tags: ['volumes'], params: IdParams, body: SchedulersBody, response: one } }, async (req) =>
    volumeView(await polly.offerVolume(callerOf(deps, req), (req.params as { id: string }).id, (req.body as Static<typeof SchedulersBody>).schedulers)));

  app.post('/v1/volumes/:id/revoke', { schema: { tags: ['volumes'], params: IdParams, body: SchedulersBody, response: one } }, async (req) =>
    volumeView(await polly.revokeVolume(callerOf(deps, req), (req.params as { id: string }).id, (req.body as Static<typeof SchedulersBody>).schedulers)));

  app.post('/v1/volumes/:id/attachments', { schema: { tags: ['volumes'], params: IdParams, body: AttachBody, response: one } }, async (req) => {
    const b = req.body as Static<typeof AttachBody>;
    return volumeView(await polly.attachVolume(callerOf(deps, req), (req.params as { id: string }).id, b));
  });

  app.delete('/v1/volumes/:id/attachments/:nodeId', {
    schema: { tags: ['volumes'], params: Type.Object({ id: Type.String({ maxLength: 200 }), nodeId: Type.String({ maxLength: 128 }) }), response: one },
  }, async (req) => {
    const p = req.params as { id: string; nodeId: string };
    return volumeView(await polly.detachVolume(callerOf(deps, req), p.id, p.nodeId));
  });
}
