import type { FastifyRequest } from 'fastify';

/**
 * A JSON body parser for the protocol front doors: an empty body is no body (clients send a JSON
 * content type on DELETEs and flag-only POSTs without one); anything else must be valid JSON.
 */
export function parseJsonOrEmpty(_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void {
  const text = body.toString();
  if (text.trim() === '') return done(null, undefined);
  try {
    done(null, JSON.parse(text));
  } catch {
    done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }));
  }
}
