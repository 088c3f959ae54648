/** Errors the client throws: what the server said (ApiError) and not reaching it (ConnectionError). */

/** The server answered with an error: `{"error":{"code","message","details"}}` and a non-2xx status. */
export class ApiError extends Error {
  /** HTTP status; 0 when the error is the outcome of a failed long-running operation. */
  readonly status: number;
  /** The server's stable error code (NOT_FOUND, CONFLICT, …), or HTTP_<status> when the body had none. */
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The server could not be reached, or did not answer in time (code TIMEOUT). */
export class ConnectionError extends Error {
  readonly baseUrl: string;
  /** ECONNREFUSED, ENOTFOUND, ECONNRESET, TIMEOUT, … */
  readonly code: string;

  constructor(baseUrl: string, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionError';
    this.baseUrl = baseUrl;
    this.code = code;
  }
}

/** Best-effort system error code of a failed fetch (undici wraps it in `cause`). */
export function networkCode(e: unknown): string {
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const o = cur as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof o.code === 'string' && o.code !== '') return o.code;
    if (Array.isArray(o.errors) && o.errors.length > 0) {
      const inner = networkCode(o.errors[0]);
      if (inner !== 'UNKNOWN') return inner;
    }
    cur = o.cause;
  }
  if (e instanceof Error && e.cause instanceof Error) return e.cause.message;
  return 'UNKNOWN';
}
