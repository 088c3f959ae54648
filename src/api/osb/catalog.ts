import { createHash } from 'node:crypto';
import { ADMIN } from '../../core/model.js';
import type { Polly } from '../../core/polly.js';

/** One plan: a volume type of a Polly service (`default` when its pools declare no types). */
export interface OsbPlan {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly type?: string;
}

export interface OsbService {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly description: string;
  readonly plans: readonly OsbPlan[];
}

/** Stable ids (UUID-shaped) derived from names, so the catalog is the same on every start and replica. */
export function stableId(...parts: string[]): string {
  const h = createHash('sha256').update(['polly', ...parts].join('\0')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The broker's catalog, built from the Polly services (one offering each) and their pool types. */
export function buildCatalog(polly: Polly): OsbService[] {
  return polly.listServices(ADMIN).map((s) => {
    const types = [...new Set(polly.listPools(ADMIN, s.name).flatMap((p) => p.types))].sort();
    const plans: OsbPlan[] = types.length === 0
      ? [{ id: stableId('plan', s.name, ''), name: 'default', service: s.name }]
      : types.map((t) => ({ id: stableId('plan', s.name, t), name: t, service: s.name, type: t }));
    return { id: stableId('service', s.name), name: s.name, service: s.name, description: s.description ?? `Polly volumes of service ${s.name} (${s.driver} driver)`, plans };
  });
}

const sizeSchema = { description: 'Volume size: a number of GiB or a size such as 512Mi, 10Gi', type: ['number', 'string'] };
const labelsSchema = { description: 'Labels of the volume', type: 'object', additionalProperties: { type: 'string' } };

/** The catalog as GET /v2/catalog answers it. */
export function catalogView(services: readonly OsbService[]) {
  return {
    services: services.map((s) => ({
      name: s.name, id: s.id, description: s.description, tags: ['polly', 'volume'],
      requires: ['volume_mount'], bindable: true, instances_retrievable: true, bindings_retrievable: true,
      allow_context_updates: false, plan_updateable: false,
      metadata: { displayName: `Polly ${s.name}` },
      plans: s.plans.map((p) => ({
        id: p.id, name: p.name, description: p.type === undefined ? `Volumes of service ${s.service}` : `Volumes of type ${p.type} in service ${s.service}`,
        free: true, bindable: true, plan_updateable: false,
        schemas: {
          service_instance: {
            create: { parameters: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', additionalProperties: false, properties: { size: sizeSchema, labels: labelsSchema, snapshot: { description: 'Id of a snapshot to copy (needs accepts_incomplete=true)', type: 'string' } } } },
            update: { parameters: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', additionalProperties: false, properties: { size: sizeSchema } } },
          },
          service_binding: {
            create: { parameters: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', additionalProperties: false, properties: { mount: { description: 'Path in the container', type: 'string' }, readonly: { type: 'boolean' } } } },
          },
        },
      })),
    })),
  };
}
