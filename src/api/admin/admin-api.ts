import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import { toHttpError } from './error-map.js';
import { registerMetrics } from './metrics.js';
import type { AdminDeps } from './request-context.js';
import { catalogRoutes } from './routes/catalog.js';
import { legacyRoutes } from './routes/legacy-2016.js';
import { nodeRoutes } from './routes/nodes.js';
import { offerRoutes } from './routes/offers.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { systemRoutes } from './routes/system.js';
import { volumeRoutes } from './routes/volumes.js';

export interface AdminApiOptions extends AdminDeps {
  readonly bodyLimitBytes: number;
  readonly logger?: Logger;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** Other front doors served on this listener under a prefix of their own (e.g. OSB under /v2). */
  readonly mounts?: readonly {
    readonly prefix: string;
    readonly plugin: (app: FastifyInstance) => Promise<void>;
    /** Its error shape, also for errors raised before routing (e.g. over-long parameters). */
    readonly toError: (e: unknown) => { status: number; body: unknown };
  }[];
}

/** The admin REST API: /v1, the 2016 /admin routes, health and metrics, on one listener. */
export async function buildAdminApi(options: AdminApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.https ? { https: { cert: options.https.cert, key: options.https.key } } : {}),
    bodyLimit: options.bodyLimitBytes,
    // Per-request access logs stay off (metrics count requests); errors still reach the log.
    ...(options.logger ? { loggerInstance: options.logger.child({}, { level: 'warn' }) } : { logger: false }),
    return503OnClosing: true,
    maxParamLength: 256,
    forceCloseConnections: 'idle',
    // Errors fastify raises before routing (over-long parameters, bad content types) use the envelope too.
    frameworkErrors: (err, req, reply) => {
      const mount = options.mounts?.find((m) => req.url.startsWith(`${m.prefix}/`));
      const { status, body } = mount ? mount.toError(err) : toHttpError(err);
      void (reply as unknown as { code(n: number): { send(b: unknown): void } }).code(status).send(body);
    },
  }) as unknown as FastifyInstance;
  // Bodies are JSON and must carry the right types; query strings and path parameters are text
  // and are coerced (limit=10 → 10, a repeated label → an array).
  const strict = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false });
  const coercing = new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false });
  for (const ajv of [strict, coercing]) ajv.addKeyword('example');
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Polly admin API', version: options.version, description: 'Central storage scheduling for container platforms' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toHttpError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}`, details: {} } });
  });

  // While shutting down, answers to requests still in flight close their connection, so that
  // keep-alive clients do not hold the server open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply) => {
    if (closing) void reply.header('connection', 'close');
    // A read answered from this replica's memory while the shared store is unreachable may be
    // stale: say so (RFC 7234 warning 110).
    if (req.method === 'GET' && reply.statusCode < 400 && options.polly.ctx.store.reachable?.() === false) {
      void reply.header('warning', '110 polly "store unavailable: this answer may be stale"');
    }
  });

  registerMetrics(app, options.polly);
  systemRoutes(app, options);
  volumeRoutes(app, options);
  snapshotRoutes(app, options);
  catalogRoutes(app, options);
  offerRoutes(app, options);
  legacyRoutes(app, options);
  nodeRoutes(app, options);
  for (const m of options.mounts ?? []) await app.register(async (scope) => m.plugin(scope), { prefix: m.prefix });
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}

