import type { FastifyError } from 'fastify';
import { PollyError, type ErrorCode } from '../../core/errors.js';
import { validationProblem } from '../front-door.js';

/**
 * The one map from core error codes to libStorage errors: an HTTP status and the error body of the
 * libStorage blueprint, `{"type", "httpStatus", "message"}` (plus `status`, which libStorage's own
 * Go client reads as the HTTP status).
 */
const MAP: Readonly<Record<ErrorCode, readonly [number, string]>> = {
  INVALID_ARGUMENT: [400, 'invalidRequest'],
  OUT_OF_RANGE: [400, 'invalidRequest'],
  UNAUTHENTICATED: [401, 'unauthorizedRequest'],
  FORBIDDEN: [401, 'unauthorizedRequest'],
  NOT_FOUND: [404, 'resourceNotFound'],
  ALREADY_EXISTS: [409, 'resourceExists'],
  CONFLICT: [409, 'conflict'],
  FAILED_PRECONDITION: [409, 'conflict'],
  IN_PROGRESS: [409, 'conflict'],
  QUOTA_EXCEEDED: [409, 'quotaExceeded'],
  INSUFFICIENT_CAPACITY: [507, 'insufficientCapacity'],
  UNSUPPORTED: [501, 'notImplemented'],
  UNAVAILABLE: [503, 'serviceUnavailable'],
  BACKEND_ERROR: [502, 'badGateway'],
  INTERNAL: [500, 'internalServerError'],
};

export interface LibstorageErrorBody {
  readonly type: string;
  readonly httpStatus: number;
  readonly status: number;
  readonly message: string;
}

const body = (status: number, type: string, message: string): { status: number; body: LibstorageErrorBody } => ({
  status, body: { type, httpStatus: status, status, message },
});

export function toLibstorageError(e: unknown): { status: number; body: LibstorageErrorBody } {
  if (e instanceof PollyError) {
    const [status, type] = MAP[e.code];
    return body(status, type, e.message);
  }
  const problem = validationProblem(e);
  if (problem !== undefined) return body(400, 'invalidRequest', problem);
  const fe = e as FastifyError;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return body(fe.statusCode, fe.statusCode === 404 ? 'resourceNotFound' : 'invalidRequest', fe.message);
  }
  return body(500, 'internalServerError', 'An internal server error occurred; see the server log');
}
