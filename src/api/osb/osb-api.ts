import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Ajv } from 'ajv';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { PollyError } from '../../core/errors.js';
import type { Caller } from '../../core/model.js';
import type { Polly } from '../../core/polly.js';
import { frontDoorApp } from '../front-door.js';
import { parseJsonOrEmpty } from '../json-body.js';
import { buildCatalog, catalogView } from './catalog.js';
import { osbError, toOsbError } from './error-map.js';
import { bindingRoutes } from './routes/bindings.js';
import { instanceRoutes } from './routes/instances.js';

export interface OsbOptions {
  readonly polly: Polly;
  readonly username: string;
  readonly password: string;
  /** The scheduler identity the platform acts as (its volumes are visible to it only). */
  readonly identity: string;
}

export interface OsbDeps {
  readonly polly: Polly;
  readonly caller: Caller;
}

/** The oldest API version accepted in X-Broker-API-Version. */
export const MIN_VERSION = { major: 2, minor: 13 } as const;

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The Open Service Broker API v2.17 as a fastify plugin; mounted under /v2. */
export function osbPlugin(options: OsbOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false });
    const coercing = new Ajv({ coerceTypes: true, removeAdditional: false, useDefaults: false, allErrors: false });
    app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajv : coercing).compile(schema));
    // Platforms send a JSON content type on DELETEs without a body: an empty body is no body.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonOrEmpty);
    app.addHook('onRoute', (route) => {
      route.schema = { ...(route.schema ?? {}), hide: true } as typeof route.schema;
    });
    app.setErrorHandler((err, req, reply) => {
      const { status, body } = toOsbError(err);
      if (status >= 500) req.log.error({ err }, 'broker request failed');
      void reply.code(status).send(body);
    });
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send(osbError('NotFound', `no route ${req.method} ${req.url.split('?')[0]}`));
    });

    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const header = req.headers.authorization;
      const m = typeof header === 'string' ? /^Basic\s+([A-Za-z0-9+/=]{1,8192})$/i.exec(header) : null;
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon < 0 || !equal(decoded.slice(0, colon), options.username) || !equal(decoded.slice(colon + 1), options.password)) {
        return reply.code(401).header('www-authenticate', 'Basic realm="polly broker"').send(osbError('Unauthorized', 'send the broker credentials with HTTP basic authentication'));
      }
      const version = req.headers['x-broker-api-version'];
      const v = typeof version === 'string' ? /^(\d{1,3})\.(\d{1,3})$/.exec(version.trim()) : null;
      if (!v || Number(v[1]) !== MIN_VERSION.major || Number(v[2]) < MIN_VERSION.minor) {
        return reply.code(412).send(osbError('PreconditionFailed', `X-Broker-API-Version ${typeof version === 'string' ? JSON.stringify(version.slice(0, 32)) : 'is missing'}: this broker speaks 2.${MIN_VERSION.minor} to 2.17; send X-Broker-API-Version: 2.17`));
      }
      return undefined;
    });

    const deps: OsbDeps = { polly: options.polly, caller: { kind: 'scheduler', name: options.identity, services: '*' } };
    app.get('/catalog', async () => catalogView(buildCatalog(options.polly)));
    instanceRoutes(app, deps);
    bindingRoutes(app, deps);
  };
}

/** The broker on a listener of its own (`osb.host`). */
export async function buildOsbApi(options: OsbOptions & { readonly bodyLimitBytes: number; readonly logger?: Logger }): Promise<FastifyInstance> {
  const app = frontDoorApp({ name: 'osb', bodyLimitBytes: options.bodyLimitBytes, toError: toOsbError, ...(options.logger ? { logger: options.logger } : {}) });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(osbError('NotFound', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
  await app.register(osbPlugin(options), { prefix: '/v2' });
  await app.ready();
  return app;
}

/** Turns a thrown "not found" into the 410 Gone some OSB calls answer instead. */
export async function goneIfMissing<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PollyError && e.code === 'NOT_FOUND') return reply.code(410).send({});
    throw e;
  }
}
