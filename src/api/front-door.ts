import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { PollyError } from '../core/errors.js';

export type ErrorMapper = (e: unknown) => { status: number; body: unknown };

export interface FrontDoorOptions {
  /** Names the front door in log lines. */
  readonly name: string;
  readonly bodyLimitBytes: number;
  readonly logger?: Logger;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** The protocol's error shape, used for every error (also those raised before routing). */
  readonly toError: ErrorMapper;
}

/**
 * A fastify instance for a protocol front door on a listener of its own: errors in the
 * protocol's shape, 503 while closing, and answers that close their connection during shutdown
 * so keep-alive clients do not hold the process open.
 */
export function frontDoorApp(o: FrontDoorOptions): FastifyInstance {
  const app = Fastify({
    ...(o.https ? { https: { cert: o.https.cert, key: o.https.key } } : {}),
    bodyLimit: o.bodyLimitBytes,
    ...(o.logger ? { loggerInstance: o.logger.child({ frontDoor: o.name }, { level: 'warn' }) } : { logger: false }),
    return503OnClosing: true,
    routerOptions: { maxParamLength: 256 },
    forceCloseConnections: 'idle',
    frameworkErrors: (err, _req, reply) => {
      const { status, body } = o.toError(err);
      void (reply as unknown as FastifyReply).code(status).send(body);
    },
  }) as unknown as FastifyInstance;
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = o.toError(err);
    // Unexpected failures and backend failures reach the log; refusals the client caused do not.
    if (status >= 500 && (!(err instanceof PollyError) || err.code === 'INTERNAL' || err.code === 'BACKEND_ERROR')) req.log.error({ err }, `${o.name} request failed`);
    void reply.code(status).send(body);
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) void reply.header('connection', 'close');
  });
  return app;
}

/** The field and the problem of a schema validation error, for any protocol's error message. */
export function validationProblem(e: unknown): string | undefined {
  const fe = e as { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; validationContext?: string };
  if (!fe.validation) return undefined;
  const v = fe.validation[0]!;
  const missing = v.params?.['missingProperty'];
  const extra = v.params?.['additionalProperty'];
  const field = [fe.validationContext, ...v.instancePath.split('/').filter(Boolean), missing ?? extra].filter(Boolean).join('.');
  const what = missing ? 'is required' : extra ? 'is not a known field' : (v.message ?? 'is invalid');
  return `${field || 'body'}: ${what}`;
}
