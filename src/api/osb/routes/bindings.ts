import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { invalid } from '../../../core/errors.js';
import type { Volume } from '../../../core/model.js';
import type { ServiceBinding } from '../../../core/service-instances.js';
import { goneIfMissing, type OsbDeps } from '../osb-api.js';
import { fingerprintOf, planOf } from './instances.js';

const Id = Type.String({ minLength: 1, maxLength: 256 });
const Obj = Type.Record(Type.String(), Type.Unknown());
const Params = Type.Object({ instance_id: Id, binding_id: Id });
const BindBody = Type.Object({
  service_id: Id,
  plan_id: Id,
  app_guid: Type.Optional(Type.String({ maxLength: 256 })),
  bind_resource: Type.Optional(Obj),
  context: Type.Optional(Obj),
  parameters: Type.Optional(Obj),
  predecessor_binding_id: Type.Optional(Id),
}, { additionalProperties: false });
const Flags = Type.Object({
  accepts_incomplete: Type.Optional(Type.Boolean()),
  service_id: Type.Optional(Id),
  plan_id: Type.Optional(Id),
  operation: Type.Optional(Type.String({ maxLength: 10_000 })),
});

/** Container paths: absolute, plain segments only, no `..`. */
const CONTAINER_DIR = /^(\/[A-Za-z0-9._-]+)+$/;

function bindParameters(p: Record<string, unknown> | undefined): { containerDir?: string; readOnly?: boolean } {
  const params = p ?? {};
  for (const k of Object.keys(params)) if (!['mount', 'readonly'].includes(k)) throw invalid(`parameters.${k.slice(0, 64)}`, 'is not a binding parameter; accepted: mount, readonly');
  const mount = params['mount'];
  if (mount !== undefined && (typeof mount !== 'string' || mount.length > 1024 || !CONTAINER_DIR.test(mount) || mount.split('/').includes('..'))) {
    throw invalid('parameters.mount', 'must be an absolute container path of letters, digits, ".", "_", "-" and "/" without ".."');
  }
  const readonly = params['readonly'];
  if (readonly !== undefined && typeof readonly !== 'boolean') throw invalid('parameters.readonly', 'must be true or false');
  return { ...(mount !== undefined ? { containerDir: mount } : {}), ...(readonly !== undefined ? { readOnly: readonly } : {}) };
}

/** The binding as the platform needs it: one shared volume mount for the polly volume driver. */
function bindingBody(b: ServiceBinding, v: Volume) {
  return {
    credentials: {},
    volume_mounts: [{
      driver: 'polly',
      container_dir: b.containerDir ?? `/var/vcap/data/${b.instanceId}`,
      mode: b.readOnly ? 'r' : 'rw',
      device_type: 'shared',
      device: { volume_id: v.id, mount_config: { service: v.service, name: v.name, ...(b.readOnly ? { readonly: 'true' } : {}) } },
    }],
  };
}

export function bindingRoutes(app: FastifyInstance, deps: OsbDeps): void {
  const { polly, caller } = deps;
  const path = '/service_instances/:instance_id/service_bindings/:binding_id';

  app.put(path, { schema: { params: Params, querystring: Flags, body: BindBody } }, async (req, reply) => {
    const p = req.params as Static<typeof Params>;
    const b = req.body as Static<typeof BindBody>;
    planOf(deps, b.service_id, b.plan_id);
    const params = bindParameters(b.parameters);
    const { binding, volume, created } = await polly.bindInstance(caller, {
      instanceId: p.instance_id, bindingId: p.binding_id, ...params,
      fingerprint: fingerprintOf(b.service_id, b.plan_id, b.app_guid ?? null, b.parameters ?? {}),
    });
    return reply.code(created ? 201 : 200).send(bindingBody(binding, volume));
  });

  app.get(path, { schema: { params: Params, querystring: Flags } }, async (req) => {
    const p = req.params as Static<typeof Params>;
    const binding = await polly.getBinding(caller, p.instance_id, p.binding_id);
    const volume = await polly.getVolume(caller, binding.volumeId);
    return { ...bindingBody(binding, volume), parameters: { ...(binding.containerDir !== undefined ? { mount: binding.containerDir } : {}), readonly: binding.readOnly } };
  });

  app.get(`${path}/last_operation`, { schema: { params: Params, querystring: Flags } }, async (req, reply) => {
    const p = req.params as Static<typeof Params>;
    // Bindings are made within their request; an existing one has succeeded, a missing one is gone.
    return goneIfMissing(reply, async () => {
      await polly.getBinding(caller, p.instance_id, p.binding_id);
      return { state: 'succeeded' };
    });
  });

  app.delete(path, { schema: { params: Params, querystring: Flags } }, async (req, reply) => {
    const p = req.params as Static<typeof Params>;
    const q = req.query as Static<typeof Flags>;
    if (q.service_id === undefined) throw invalid('service_id', 'is required');
    if (q.plan_id === undefined) throw invalid('plan_id', 'is required');
    return goneIfMissing(reply, async () => {
      await polly.unbindInstance(caller, p.instance_id, p.binding_id);
      return reply.code(200).send({});
    });
  });
}
