import type { FastifyError } from 'fastify';
import { PollyError, type ErrorCode } from '../../core/errors.js';
import { validationProblem } from '../front-door.js';

/**
 * The one map from core error codes to Open Service Broker errors: a status and
 * `{"error": "<CamelCase>", "description": "…"}`. A 4xx leaves the broker's resources unchanged,
 * which core guarantees for every refused request.
 */
const MAP: Readonly<Record<ErrorCode, readonly [number, string]>> = {
  INVALID_ARGUMENT: [400, 'BadRequest'],
  OUT_OF_RANGE: [400, 'BadRequest'],
  UNAUTHENTICATED: [401, 'Unauthorized'],
  FORBIDDEN: [403, 'Forbidden'],
  NOT_FOUND: [404, 'NotFound'],
  ALREADY_EXISTS: [409, 'Conflict'],
  CONFLICT: [409, 'Conflict'],
  // The spec's name for "another operation runs on this resource".
  IN_PROGRESS: [422, 'ConcurrencyError'],
  FAILED_PRECONDITION: [422, 'FailedPrecondition'],
  QUOTA_EXCEEDED: [422, 'QuotaExceeded'],
  INSUFFICIENT_CAPACITY: [422, 'InsufficientCapacity'],
  UNSUPPORTED: [422, 'NotSupported'],
  UNAVAILABLE: [503, 'Unavailable'],
  BACKEND_ERROR: [502, 'BackendError'],
  INTERNAL: [500, 'InternalError'],
};

export interface OsbErrorBody {
  readonly error: string;
  readonly description: string;
}

export const osbError = (error: string, description: string): OsbErrorBody => ({ error, description });

export function toOsbError(e: unknown): { status: number; body: OsbErrorBody } {
  if (e instanceof PollyError) {
    const [status, error] = MAP[e.code];
    return { status, body: osbError(error, e.message) };
  }
  const problem = validationProblem(e);
  if (problem !== undefined) return { status: 400, body: osbError('BadRequest', problem) };
  const fe = e as FastifyError;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: osbError(fe.statusCode === 404 ? 'NotFound' : fe.statusCode === 413 ? 'PayloadTooLarge' : 'BadRequest', fe.message) };
  }
  return { status: 500, body: osbError('InternalError', 'internal error; see the broker log') };
}
