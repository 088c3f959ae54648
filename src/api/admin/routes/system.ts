import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from '../request-context.js';

export function systemRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/v1/version', { schema: { tags: ['system'] } }, async () => {
    const l = deps.polly.leadership;
    return {
      version: deps.version, api: 'v1', node: deps.nodeId, store: deps.polly.ctx.store.kind,
      // Several replicas: this one's name in the election, and who leads as far as it knows.
      ...(l ? { replica: l.candidate, leader: l.leader() ?? null, leading: l.isLeader() } : {}),
    };
  });
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const ready = await deps.polly.ctx.store.ready().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ ready });
  });
}
