import type { FastifyError } from 'fastify';
import { PollyError, type ErrorCode } from '../../core/errors.js';

/** The one map from core error codes to HTTP statuses of the admin API. */
const STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  FAILED_PRECONDITION: 409,
  IN_PROGRESS: 409,
  QUOTA_EXCEEDED: 409,
  INSUFFICIENT_CAPACITY: 507,
  UNSUPPORTED: 501,
  UNAVAILABLE: 503,
  BACKEND_ERROR: 502,
  INTERNAL: 500,
};

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: Readonly<Record<string, unknown>> };
}

/** Maps anything thrown in a handler to a status and the one error envelope. */
export function toHttpError(e: unknown): { status: number; body: ErrorBody } {
  if (e instanceof PollyError) {
    const details = e.retryable ? { ...e.details, retryable: true } : e.details;
    return { status: STATUS[e.code], body: { error: { code: e.code, message: e.message, details } } };
  }
  const fe = e as FastifyError & { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; validationContext?: string };
  if (fe.validation) {
    const v = fe.validation[0]!;
    const missing = v.params?.['missingProperty'];
    const extra = v.params?.['additionalProperty'];
    const path = [fe.validationContext, ...v.instancePath.split('/').filter(Boolean)].filter(Boolean).join('.');
    const field = missing ? `${path ? `${path}.` : ''}${String(missing)}` : extra ? `${path ? `${path}.` : ''}${String(extra)}` : path;
    const message = missing ? 'is required' : extra ? 'is not a known field' : (v.message ?? 'is invalid');
    return { status: 400, body: { error: { code: 'INVALID_ARGUMENT', message: `${field}: ${message}`, details: { field } } } };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : fe.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : fe.statusCode === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT';
    return { status: fe.statusCode, body: { error: { code, message: fe.message, details: {} } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; see the server log', details: {} } } };
}
