import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import { invalid } from '../../core/errors.js';
import type { Polly } from '../../core/polly.js';
import { frontDoorApp } from '../front-door.js';
import { parseJsonOrEmpty } from '../json-body.js';
import { toLibstorageError } from './error-map.js';
import { transactionHeaders } from './headers.js';
import { LibstorageIdentities, type LibstorageService } from './identities.js';
import { serviceRoutes } from './routes/services.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { volumeRoutes } from './routes/volumes.js';

export interface LibstorageApiOptions {
  readonly polly: Polly;
  readonly services: readonly LibstorageService[];
  /** Sent as `Libstorage-Servername` with every answer. */
  readonly serverName: string;
  readonly bodyLimitBytes: number;
  readonly logger?: Logger;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
}

/** What the route plugins share. */
export interface LibstorageDeps {
  readonly polly: Polly;
  readonly identities: LibstorageIdentities;
}

/** The `attachments` query bitmask of the blueprint. */
export const ATTACH = { all: 1, mine: 2, devices: 4, attachedOnly: 8, unattachedOnly: 16 } as const;

export function attachmentsMask(value: unknown): number {
  if (value === undefined || value === '') return 0;
  if (value === 'true') return ATTACH.all;
  if (value === 'false') return 0;
  if (typeof value !== 'string' || !/^\d{1,2}$/.test(value) || Number(value) > 31) throw invalid('attachments', 'must be a bitmask from 0 to 31 (or true/false)');
  return Number(value);
}

/** The one operation flag of a POST (`?copy`, `?snapshot`, …); exactly one of `allowed`. */
export function operationOf(req: FastifyRequest, allowed: readonly string[]): string {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const given = allowed.filter((k) => k in q);
  if (given.length !== 1) throw invalid('query', `name exactly one operation: ${allowed.map((a) => `?${a}`).join(', ')}`);
  return given[0]!;
}

/**
 * The libStorage API (the blueprint in specs/libstorage, as a REX-Ray 0.12 client speaks it) on a
 * listener of its own. Translates only: every rule is core's.
 */
export async function buildLibstorageApi(options: LibstorageApiOptions): Promise<FastifyInstance> {
  const app = frontDoorApp({
    name: 'libstorage', bodyLimitBytes: options.bodyLimitBytes, toError: toLibstorageError,
    ...(options.logger ? { logger: options.logger } : {}), ...(options.https ? { https: options.https } : {}),
  });
  const strict = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false });
  app.setValidatorCompiler(({ schema }) => strict.compile(schema));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonOrEmpty);

  // Header names as the blueprint spells them (node keeps the case given to setHeader).
  app.addHook('onRequest', async (req, reply) => {
    reply.raw.setHeader('Libstorage-Servername', options.serverName);
    for (const [k, v] of Object.entries(transactionHeaders(req))) reply.raw.setHeader(k, v);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ type: 'resourceNotFound', httpStatus: 404, status: 404, message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  const deps: LibstorageDeps = { polly: options.polly, identities: new LibstorageIdentities(options.services) };
  app.get('/', async () => ['/services', '/volumes', '/snapshots']);
  serviceRoutes(app, deps);
  volumeRoutes(app, deps);
  snapshotRoutes(app, deps);
  // Every operation here finishes within its request, so there are never tasks to follow.
  app.get('/tasks', async () => ({}));
  app.get<{ Params: { id: string } }>('/tasks/:id', async (req) => {
    throw invalid('task', `no task ${JSON.stringify(req.params.id.slice(0, 64))}: this server runs every operation within its request`);
  });
  await app.ready();
  return app;
}
