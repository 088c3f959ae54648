import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { invalid, notFound } from '../../../core/errors.js';
import { formatBytes, parseSize } from '../../../core/units.js';
import type { ServiceInstance } from '../../../core/service-instances.js';
import { buildCatalog, type OsbPlan } from '../catalog.js';
import { osbError } from '../error-map.js';
import { goneIfMissing, type OsbDeps } from '../osb-api.js';

const Id = Type.String({ minLength: 1, maxLength: 256 });
const Obj = Type.Record(Type.String(), Type.Unknown());
const MaintenanceInfo = Type.Object({ version: Type.Optional(Type.String({ maxLength: 256 })), description: Type.Optional(Type.String()) });

export const ProvisionBody = Type.Object({
  service_id: Id,
  plan_id: Id,
  context: Type.Optional(Obj),
  organization_guid: Type.Optional(Type.String({ maxLength: 256 })),
  space_guid: Type.Optional(Type.String({ maxLength: 256 })),
  parameters: Type.Optional(Obj),
  maintenance_info: Type.Optional(MaintenanceInfo),
}, { additionalProperties: false });

const UpdateBody = Type.Object({
  service_id: Id,
  plan_id: Type.Optional(Id),
  context: Type.Optional(Obj),
  parameters: Type.Optional(Obj),
  previous_values: Type.Optional(Obj),
  maintenance_info: Type.Optional(MaintenanceInfo),
}, { additionalProperties: false });

export const InstanceParams = Type.Object({ instance_id: Id });
const Flags = Type.Object({
  accepts_incomplete: Type.Optional(Type.Boolean()),
  service_id: Type.Optional(Id),
  plan_id: Type.Optional(Id),
  operation: Type.Optional(Type.String({ maxLength: 10_000 })),
});

/** Looks up a plan of the catalog; service and plan ids must match. */
export function planOf(deps: OsbDeps, serviceId: string, planId: string): OsbPlan {
  const service = buildCatalog(deps.polly).find((s) => s.id === serviceId);
  if (!service) throw invalid('service_id', `${JSON.stringify(serviceId.slice(0, 64))} is not a service of this broker's catalog`);
  const plan = service.plans.find((p) => p.id === planId);
  if (!plan) throw invalid('plan_id', `${JSON.stringify(planId.slice(0, 64))} is not a plan of service ${service.name}`);
  return plan;
}

const stable = (v: unknown): unknown =>
  v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, stable(x)]) : v;

/** Same instance id, same request: service, plan and parameters (the platform's context may vary). */
export const fingerprintOf = (...parts: unknown[]): string => JSON.stringify(stable(parts));

function provisionParameters(p: Record<string, unknown> | undefined) {
  const params = p ?? {};
  for (const k of Object.keys(params)) if (!['size', 'labels', 'snapshot'].includes(k)) throw invalid(`parameters.${k.slice(0, 64)}`, 'is not a parameter of this service; accepted: size, labels, snapshot');
  const labels = params['labels'];
  if (labels !== undefined && (labels === null || typeof labels !== 'object' || Array.isArray(labels))) throw invalid('parameters.labels', 'must be an object of strings');
  const snapshot = params['snapshot'];
  if (snapshot !== undefined && typeof snapshot !== 'string') throw invalid('parameters.snapshot', 'must be a snapshot id');
  return {
    ...(params['size'] !== undefined ? { sizeBytes: parseSize('parameters.size', params['size']) } : {}),
    ...(labels !== undefined ? { labels: labels as Record<string, string> } : {}),
    ...(snapshot !== undefined ? { source: { kind: 'snapshot' as const, id: snapshot } } : {}),
  };
}

const instanceBody = (i: ServiceInstance, serviceId: string) => ({
  service_id: serviceId, plan_id: i.plan,
  parameters: { ...(i.sizeBytes !== undefined ? { size: formatBytes(i.sizeBytes) } : {}), ...(Object.keys(i.labels).length > 0 ? { labels: i.labels } : {}) },
  metadata: { labels: {}, attributes: { volume_id: i.volumeId ?? '', volume_name: i.volumeName } },
});

export function instanceRoutes(app: FastifyInstance, deps: OsbDeps): void {
  const { polly, caller } = deps;

  app.put('/service_instances/:instance_id', { schema: { params: InstanceParams, querystring: Flags, body: ProvisionBody } }, async (req, reply) => {
    const { instance_id: id } = req.params as Static<typeof InstanceParams>;
    const q = req.query as Static<typeof Flags>;
    const b = req.body as Static<typeof ProvisionBody>;
    const plan = planOf(deps, b.service_id, b.plan_id);
    const params = provisionParameters(b.parameters);
    const async = q.accepts_incomplete === true;
    // Copies take as long as the data: the platform must be ready to poll.
    if (params.source && !async) {
      return reply.code(422).send(osbError('AsyncRequired', 'provisioning from a snapshot copies data and requires accepts_incomplete=true'));
    }
    const { instance, created } = await polly.provisionInstance(caller, {
      instanceId: id, service: plan.service, plan: plan.id, ...(plan.type !== undefined ? { type: plan.type } : {}), ...params,
      fingerprint: fingerprintOf(b.service_id, b.plan_id, b.parameters ?? {}),
    }, async);
    if (instance.state === 'in progress') {
      if (!async) return reply.code(422).send(osbError('ConcurrencyError', `service instance ${id} is still being provisioned`));
      return reply.code(202).send({ operation: 'provision' });
    }
    return reply.code(created ? 201 : 200).send({});
  });

  app.patch('/service_instances/:instance_id', { schema: { params: InstanceParams, querystring: Flags, body: UpdateBody } }, async (req, reply) => {
    const { instance_id: id } = req.params as Static<typeof InstanceParams>;
    const q = req.query as Static<typeof Flags>;
    const b = req.body as Static<typeof UpdateBody>;
    const current = await polly.getInstance(caller, id);
    planOf(deps, b.service_id, b.plan_id ?? current.plan);
    for (const k of Object.keys(b.parameters ?? {})) if (k !== 'size') throw invalid(`parameters.${k.slice(0, 64)}`, 'cannot change; accepted: size');
    const size = b.parameters?.['size'];
    const async = q.accepts_incomplete === true;
    const updated = await polly.updateInstance(caller, id, {
      ...(b.plan_id !== undefined ? { plan: b.plan_id } : {}), ...(size !== undefined ? { sizeBytes: parseSize('parameters.size', size) } : {}),
    }, async);
    if (updated.state === 'in progress') return reply.code(202).send({ operation: 'update' });
    return reply.code(200).send({});
  });

  app.delete('/service_instances/:instance_id', { schema: { params: InstanceParams, querystring: Flags } }, async (req, reply) => {
    const { instance_id: id } = req.params as Static<typeof InstanceParams>;
    const q = req.query as Static<typeof Flags>;
    if (q.service_id === undefined) throw invalid('service_id', 'is required');
    if (q.plan_id === undefined) throw invalid('plan_id', 'is required');
    const async = q.accepts_incomplete === true;
    return goneIfMissing(reply, async () => {
      const { done } = await polly.deprovisionInstance(caller, id, async);
      if (!done && !async) return reply.code(422).send(osbError('ConcurrencyError', `service instance ${id} is being deprovisioned`));
      return done ? reply.code(200).send({}) : reply.code(202).send({ operation: 'deprovision' });
    });
  });

  app.get('/service_instances/:instance_id', { schema: { params: InstanceParams, querystring: Flags } }, async (req, reply) => {
    const { instance_id: id } = req.params as Static<typeof InstanceParams>;
    const i = await polly.getInstance(caller, id);
    if (i.operation === 'provision' && i.state !== 'succeeded') throw notFound('service instance', id);
    if (i.state === 'in progress') return reply.code(422).send(osbError('ConcurrencyError', `service instance ${id} is being ${i.operation === 'update' ? 'updated' : 'deprovisioned'}`));
    const service = buildCatalog(polly).find((s) => s.plans.some((p) => p.id === i.plan));
    return instanceBody(i, service?.id ?? '');
  });

  app.get('/service_instances/:instance_id/last_operation', { schema: { params: InstanceParams, querystring: Flags } }, async (req, reply) => {
    const { instance_id: id } = req.params as Static<typeof InstanceParams>;
    const q = req.query as Static<typeof Flags>;
    try {
      const i = await polly.getInstance(caller, id);
      if (q.operation !== undefined && q.operation !== i.operation) {
        // The operation asked about finished and another began; report the one asked about as done.
        return { state: 'succeeded', description: `${q.operation.slice(0, 64)} finished; ${i.operation} is ${i.state}` };
      }
      return {
        state: i.state,
        ...(i.description !== undefined ? { description: i.description } : { description: `${i.operation} ${i.state}` }),
        ...(i.state === 'failed' && i.operation !== 'provision' ? { instance_usable: true } : {}),
        ...(i.state === 'failed' && i.operation === 'update' ? { update_repeatable: true } : {}),
      };
    } catch (e) {
      // A finished deprovision leaves nothing: 410 Gone tells the platform to forget the instance.
      if (q.operation === 'deprovision' && e instanceof Error && (e as { code?: string }).code === 'NOT_FOUND') return reply.code(410).send({});
      throw e;
    }
  });
}
