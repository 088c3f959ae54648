import { PollyError } from '../../core/errors.js';

/**
 * The one map from core errors to the Docker plugin protocol: Docker shows `Err` to the user and
 * treats any non-empty `Err` as failure, so every error is HTTP 500 with `{"Err": "…"}`; the
 * message names the core code so scripts can tell "not found" from "no capacity".
 */
export function toDockerError(e: unknown): { status: number; body: { Err: string } } {
  if (e instanceof RelayedAnswer) return { status: e.status, body: e.body };
  if (e instanceof PollyError) return { status: 500, body: { Err: `${e.code}: ${e.message}` } };
  const fe = e as { statusCode?: number; message?: string; validation?: unknown };
  if (fe.validation !== undefined || (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500)) {
    return { status: 500, body: { Err: `INVALID_ARGUMENT: ${fe.message ?? 'bad request'}` } };
  }
  return { status: 500, body: { Err: 'INTERNAL: internal error; see the polly server log' } };
}

/** An error answer the server gave to a call a node's agent relayed: passed to Docker as it is. */
export class RelayedAnswer extends Error {
  constructor(readonly status: number, readonly body: { Err: string }) {
    super(`the server answered ${status}`);
  }
}
