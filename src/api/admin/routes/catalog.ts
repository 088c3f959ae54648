import type { FastifyInstance } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { decodeCursor, encodeCursor } from '../../../core/volumes.js';
import { callerOf, type AdminDeps } from '../request-context.js';
import { AdoptBody, EraseBody, ServiceQuery, StoreQuery, VolumeSchema, errorResponses } from '../schemas.js';
import { serviceView, unmanagedView, volumeView } from '../views.js';
import { assertAdmin } from '../../../core/access.js';

/** Services, pools, unmanaged volumes, the raw store and reconcile reports. */
export function catalogRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { polly } = deps;

  app.get('/v1/services', { schema: { tags: ['catalog'] } }, async (req) => ({ items: polly.listServices(callerOf(deps, req)).map(serviceView) }));

  app.get('/v1/services/:name', { schema: { tags: ['catalog'] } }, async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const found = polly.listServices(callerOf(deps, req)).find((s) => s.name === name);
    if (!found) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `service ${JSON.stringify(name)} not found`, details: { kind: 'service', id: name } } });
    return serviceView(found);
  });

  app.get('/v1/pools', { schema: { tags: ['catalog'], querystring: ServiceQuery } }, async (req) =>
    ({ items: polly.listPools(callerOf(deps, req), (req.query as Static<typeof ServiceQuery>).service) }));

  app.get('/v1/unmanaged', { schema: { tags: ['catalog'], querystring: ServiceQuery } }, async (req) =>
    ({ items: (await polly.listUnmanaged(callerOf(deps, req), (req.query as Static<typeof ServiceQuery>).service)).map(unmanagedView) }));

  app.post('/v1/unmanaged/adopt', { schema: { tags: ['catalog'], body: AdoptBody, response: { 201: VolumeSchema, ...errorResponses } } }, async (req, reply) => {
    const v = await polly.adoptVolume(callerOf(deps, req), req.body as Static<typeof AdoptBody>);
    return reply.code(201).header('location', `/v1/volumes/${v.id}`).send(volumeView(v));
  });

  app.get('/v1/store', { schema: { tags: ['store'], querystring: StoreQuery } }, async (req) => {
    const q = req.query as Static<typeof StoreQuery>;
    const page = await polly.dumpStore(callerOf(deps, req), q.prefix ?? '', q.limit ?? 1000, q.cursor !== undefined ? decodeCursor(q.cursor, q.prefix ?? '') : undefined);
    return { items: page.records.map((r) => ({ key: r.key, revision: r.revision, value: r.value })), ...(page.next ? { next: encodeCursor(page.next) } : {}) };
  });

  app.post('/v1/store/erase', { schema: { tags: ['store'], body: EraseBody } }, async (req) => ({ erased: await polly.eraseStore(callerOf(deps, req)) }));

  app.get('/v1/reconcile', { schema: { tags: ['reconcile'] } }, async (req) => {
    assertAdmin(callerOf(deps, req), 'reading reconcile reports');
    return { last: polly.lastReconcile ?? null };
  });
}
