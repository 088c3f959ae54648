/**
 * The one error type core throws. Front doors map `code` to their protocol once, in their
 * own error-map.ts; nothing else inspects messages.
 */
export const ErrorCodes = [
  'INVALID_ARGUMENT',
  'OUT_OF_RANGE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'FAILED_PRECONDITION',
  'IN_PROGRESS',
  'INSUFFICIENT_CAPACITY',
  'QUOTA_EXCEEDED',
  'UNSUPPORTED',
  'UNAVAILABLE',
  'BACKEND_ERROR',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export type ErrorDetails = Readonly<Record<string, unknown>>;

export class PollyError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  /** True when the same request may succeed if retried later. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PollyError';
    this.code = code;
    this.details = details;
    this.retryable = options.retryable ?? (code === 'UNAVAILABLE' || code === 'IN_PROGRESS');
  }
}

export const invalid = (field: string, message: string, details: ErrorDetails = {}): PollyError =>
  new PollyError('INVALID_ARGUMENT', `${field}: ${message}`, { field, ...details });

export const notFound = (kind: string, id: string): PollyError =>
  new PollyError('NOT_FOUND', `${kind} ${JSON.stringify(id)} not found`, { kind, id });

export const isPollyError = (e: unknown): e is PollyError => e instanceof PollyError;

/** Wraps anything thrown by a backend into a PollyError, keeping PollyErrors as they are. */
export function asPollyError(e: unknown, fallback: ErrorCode = 'INTERNAL'): PollyError {
  if (e instanceof PollyError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new PollyError(fallback, message, {}, { cause: e });
}
