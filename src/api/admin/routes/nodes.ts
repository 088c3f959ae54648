import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { NodeView } from '../../../core/nodes.js';
import type { PollyEvent } from '../../../core/model.js';
import { callerOf, type AdminDeps } from '../request-context.js';
import { errorResponses } from '../schemas.js';

const NodeParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const EventsQuery = Type.Object({
  node: Type.Optional(Type.String({ maxLength: 128 })),
  volume: Type.Optional(Type.String({ maxLength: 200 })),
  type: Type.Optional(Type.String({ maxLength: 64 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  cursor: Type.Optional(Type.String({ maxLength: 1024 })),
}, { additionalProperties: false });

const iso = (ms: number): string => new Date(ms).toISOString();

export function nodeView(n: NodeView): Record<string, unknown> {
  return {
    ...n, registeredAt: iso(n.registeredAt), renewedAt: iso(n.renewedAt), updatedAt: iso(n.updatedAt),
    leaseExpiresAt: iso(n.leaseExpiresAt), fenceAt: iso(n.fenceAt),
  };
}

export const eventView = (e: PollyEvent): Record<string, unknown> => ({ ...e, at: iso(e.at) });

function doctorView(d: Awaited<ReturnType<AdminDeps['polly']['doctor']>>): Record<string, unknown> {
  const times = <T extends { startedAt: number; finishedAt: number }>(r: T | null) => (r ? { ...r, startedAt: iso(r.startedAt), finishedAt: iso(r.finishedAt) } : null);
  return { reconcile: times(d.reconcile), nodes: times(d.nodes) };
}

/** Nodes (`/v1/nodes`) and the node/failover timeline (`/v1/events`); admin only. */
export function nodeRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { polly } = deps;
  const tags = ['nodes'];
  app.get('/v1/nodes', { schema: { tags, response: errorResponses } }, async (req) => ({ items: (await polly.listNodes(callerOf(deps, req))).map(nodeView) }));
  app.get('/v1/nodes/:id', { schema: { tags, params: NodeParams, response: errorResponses } }, async (req) =>
    nodeView(await polly.getNode(callerOf(deps, req), (req.params as { id: string }).id)));
  app.post('/v1/nodes/:id/cordon', { schema: { tags, params: NodeParams, response: errorResponses } }, async (req) =>
    nodeView(await polly.cordonNode(callerOf(deps, req), (req.params as { id: string }).id, true)));
  app.post('/v1/nodes/:id/uncordon', { schema: { tags, params: NodeParams, response: errorResponses } }, async (req) =>
    nodeView(await polly.cordonNode(callerOf(deps, req), (req.params as { id: string }).id, false)));
  app.post('/v1/nodes/:id/drain', { schema: { tags, params: NodeParams, response: errorResponses } }, async (req) =>
    nodeView(await polly.drainNode(callerOf(deps, req), (req.params as { id: string }).id)));
  app.get('/v1/doctor', { schema: { tags: ['reconcile'], response: errorResponses } }, async (req) => doctorView(await polly.doctor(callerOf(deps, req), false)));
  app.post('/v1/doctor', { schema: { tags: ['reconcile'], response: errorResponses } }, async (req) => doctorView(await polly.doctor(callerOf(deps, req), true)));
  app.get('/v1/events', { schema: { tags: ['events'], querystring: EventsQuery, response: errorResponses } }, async (req) => {
    const q = req.query as Static<typeof EventsQuery>;
    const page = await polly.listEvents(callerOf(deps, req), {
      ...(q.node !== undefined ? { nodeId: q.node } : {}), ...(q.volume !== undefined ? { volumeId: q.volume } : {}), ...(q.type !== undefined ? { type: q.type } : {}),
    }, q.limit ?? 500, q.cursor);
    return { items: page.items.map(eventView), ...(page.next ? { next: page.next } : {}) };
  });
}
