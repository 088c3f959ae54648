import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../../core/errors.js';
import { formatInstanceId, instanceFor, nodeOf } from '../headers.js';
import type { LibstorageDeps } from '../libstorage-api.js';
import { instanceView, serviceView } from '../views.js';
import type { LibstorageService } from '../identities.js';

export function serviceRoutes(app: FastifyInstance, deps: LibstorageDeps): void {
  const { identities } = deps;

  /** `?instance`: the instance id header is required and the instance is returned with the service. */
  const withInstance = (req: FastifyRequest, s: LibstorageService, reply: FastifyReply) => {
    if (!('instance' in ((req.query ?? {}) as object))) return serviceView(s);
    const node = nodeOf(instanceFor(req, s.driverName, s.name));
    if (node === undefined) throw invalid('Libstorage-Instanceid', `?instance needs an instance id for driver ${s.driverName}`);
    reply.raw.setHeader('Libstorage-Instanceid', formatInstanceId(s.driverName, s.name, node));
    return { ...serviceView(s), instance: instanceView(s, node) };
  };

  app.get('/services', async (req, reply) => {
    const all = await identities.authorizeAll(req);
    return Object.fromEntries(all.map((s) => [s.name, withInstance(req, s, reply)]));
  });

  app.get<{ Params: { service: string } }>('/services/:service', async (req, reply) => {
    const s = identities.get(req.params.service);
    await identities.authorize(req, s);
    return withInstance(req, s, reply);
  });
}
