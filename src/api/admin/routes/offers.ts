import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Static } from '@sinclair/typebox';
import type { OfferEvent } from '../../../core/offer-feed.js';
import { parseSize } from '../../../core/units.js';
import { callerOf, type AdminDeps } from '../request-context.js';
import {
  AcceptBody, ClaimSchema, DeclineBody, DeclineSchema, IdParams, OfferIdParams, OfferSchema, SchedulerQuery, errorResponses, pageOf,
} from '../schemas.js';
import { claimView, declineView, offerView } from '../views.js';

const DEFAULT_HEARTBEAT_MS = 15_000;
/** A watcher that does not read is cut off beyond this much unsent data; it resumes with Last-Event-ID. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Offers, claims, and the offer watch stream (server-sent events). */
export function offerRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { polly } = deps;
  const streams = new Set<ServerResponse>();

  // Watch streams never end by themselves; shutting down ends them so the server can close.
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
    streams.clear();
  });

  app.get('/v1/offers', { schema: { tags: ['offers'], querystring: SchedulerQuery, response: { 200: pageOf(OfferSchema), ...errorResponses } } }, async (req) => {
    const offers = await polly.listOffers(callerOf(deps, req), req.query as Static<typeof SchedulerQuery>);
    return { items: offers.map(offerView) };
  });

  app.post('/v1/offers/:id/accept', {
    schema: { tags: ['offers'], params: OfferIdParams, body: AcceptBody, response: { 201: ClaimSchema, ...errorResponses, 507: errorResponses[409] } },
  }, async (req, reply) => {
    const b = (req.body ?? {}) as Static<typeof AcceptBody>;
    const claim = await polly.acceptOffer(callerOf(deps, req), (req.params as { id: string }).id, {
      ...(b.size !== undefined ? { sizeBytes: parseSize('size', typeof b.size === 'number' ? `${b.size}B` : b.size) } : {}),
      ...(b.ttl !== undefined ? { ttlSeconds: b.ttl } : {}),
    });
    return reply.code(201).header('location', `/v1/claims/${claim.id}`).send(claimView(claim));
  });

  app.post('/v1/offers/:id/decline', { schema: { tags: ['offers'], params: OfferIdParams, body: DeclineBody, response: { 200: DeclineSchema, ...errorResponses } } }, async (req) => {
    const b = (req.body ?? {}) as Static<typeof DeclineBody>;
    const d = await polly.declineOffer(callerOf(deps, req), (req.params as { id: string }).id, b.refuseSeconds !== undefined ? { refuseSeconds: b.refuseSeconds } : {});
    return declineView(d);
  });

  app.get('/v1/claims', { schema: { tags: ['offers'], querystring: SchedulerQuery, response: { 200: pageOf(ClaimSchema), ...errorResponses } } }, async (req) =>
    ({ items: (await polly.listClaims(callerOf(deps, req), req.query as Static<typeof SchedulerQuery>)).map(claimView) }));

  app.get('/v1/claims/:id', { schema: { tags: ['offers'], params: IdParams, response: { 200: ClaimSchema, ...errorResponses } } }, async (req) =>
    claimView(await polly.getClaim(callerOf(deps, req), (req.params as { id: string }).id)));

  app.delete('/v1/claims/:id', { schema: { tags: ['offers'], params: IdParams, response: { 200: ClaimSchema, ...errorResponses } } }, async (req) =>
    claimView(await polly.releaseClaim(callerOf(deps, req), (req.params as { id: string }).id)));

  app.get('/v1/offers/watch', {
    schema: {
      tags: ['offers'], querystring: SchedulerQuery,
      description: 'Server-sent events: `snapshot` (all offers), then `added`, `changed` and `rescinded`. Reconnect with Last-Event-ID to resume.',
    },
  }, async (req, reply) => {
    const caller = callerOf(deps, req);
    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && header.length <= 128 ? header : undefined;
    let send: ((e: OfferEvent) => void) | undefined;
    const early: OfferEvent[] = [];
    // Subscribing before the stream starts lets bad requests get the usual JSON error.
    const sub = await polly.watchOffers(caller, req.query as Static<typeof SchedulerQuery>, lastEventId, (e) => (send ? send(e) : early.push(e)));

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no',
    });
    streams.add(res);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.offerHeartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    const stop = () => {
      clearInterval(heartbeat);
      sub.unsubscribe();
      streams.delete(res);
    };
    res.on('close', stop);
    send = (e) => {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        res.end();
        return;
      }
      res.write(formatEvent(e));
    };
    res.write('retry: 2000\n\n');
    for (const e of [...sub.replay, ...early]) send(e);
  });
}

/** One event in the text/event-stream format; data is one line of JSON. */
function formatEvent(e: OfferEvent): string {
  const data = e.type === 'snapshot' ? { offers: e.offers.map(offerView) } : e.type === 'rescinded' ? { id: e.offerId } : offerView(e.offer);
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`;
}
