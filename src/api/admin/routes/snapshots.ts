import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { callerOf, wantsAsync, type AdminDeps } from '../request-context.js';
import { IdParams, ListSnapshotsQuery, SnapshotBody, SnapshotSchema, errorResponses, pageOf } from '../schemas.js';
import { snapshotView } from '../views.js';

export function snapshotRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { polly } = deps;
  const one = { 200: SnapshotSchema, ...errorResponses };

  app.post('/v1/volumes/:id/snapshots', {
    schema: { tags: ['snapshots'], params: IdParams, body: SnapshotBody, response: { 200: SnapshotSchema, 201: SnapshotSchema, 202: Type.Object({ operation: Type.Unknown() }), ...errorResponses } },
  }, async (req, reply) => {
    const caller = callerOf(deps, req);
    const b = req.body as Static<typeof SnapshotBody>;
    const input = { volumeId: (req.params as { id: string }).id, name: b.name, ...(b.labels ? { labels: b.labels } : {}) };
    if (wantsAsync(req)) {
      await polly.getVolume(caller, input.volumeId); // a missing volume is a 404 now, not a failed operation later
      const op = polly.operations.start(caller, 'create-snapshot', async (onProgress) => snapshotView((await polly.createSnapshot(caller, input, { onProgress })).snapshot));
      return reply.code(202).header('location', `/v1/operations/${op.id}`).send({ operation: op });
    }
    const { snapshot, created } = await polly.createSnapshot(caller, input);
    return reply.code(created ? 201 : 200).send(snapshotView(snapshot));
  });

  app.get('/v1/snapshots', { schema: { tags: ['snapshots'], querystring: ListSnapshotsQuery, response: { 200: pageOf(SnapshotSchema), ...errorResponses } } }, async (req) => {
    const q = req.query as Static<typeof ListSnapshotsQuery>;
    const page = await polly.listSnapshots(callerOf(deps, req), {
      ...(q.service ? { service: q.service } : {}), ...(q.volume ? { volumeId: q.volume } : {}),
    }, q.limit ?? 500, q.cursor);
    return { items: page.items.map(snapshotView), ...(page.next ? { next: page.next } : {}) };
  });

  app.get('/v1/snapshots/:id', { schema: { tags: ['snapshots'], params: IdParams, response: one } }, async (req) =>
    snapshotView(await polly.getSnapshot(callerOf(deps, req), (req.params as { id: string }).id)));

  app.delete('/v1/snapshots/:id', { schema: { tags: ['snapshots'], params: IdParams, response: one } }, async (req) =>
    snapshotView(await polly.deleteSnapshot(callerOf(deps, req), (req.params as { id: string }).id)));

  app.get('/v1/operations/:id', { schema: { tags: ['operations'], params: IdParams } }, async (req) => {
    const op = polly.operations.get(callerOf(deps, req), (req.params as { id: string }).id);
    const { error, ...rest } = op;
    return { ...rest, ...(error ? { error: { code: error.code, message: error.message, details: error.details } } : {}) };
  });
}
