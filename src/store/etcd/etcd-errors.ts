import {
  EtcdAuthenticationFailedError, EtcdInvalidAuthTokenError, EtcdPermissionDeniedError, GRPCDeadlineExceededError,
  GRPCInvalidArgumentError, GRPCUnauthenticatedError, isRecoverableError,
} from 'etcd3';
import { PollyError } from '../../core/errors.js';

/** True when the request certainly never reached a member, so sending it again cannot apply it twice. */
export function neverSent(e: unknown): boolean {
  return e instanceof Error && /ECONNREFUSED|No connection established|connect failed|Breaker is open|circuit/i.test(e.message);
}

/** True for connection-level failures worth trying on another member. */
export function isConnectionError(e: unknown): boolean {
  return e instanceof Error && isRecoverableError(e);
}

/**
 * Turns an etcd client failure into a PollyError: an unreachable or leaderless cluster is
 * UNAVAILABLE and retryable (HTTP 503); refused credentials are UNAVAILABLE and not retryable;
 * a request etcd rejects as too large is INVALID_ARGUMENT.
 */
export function etcdError(e: unknown): PollyError {
  if (e instanceof PollyError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const details = { store: 'etcd' };
  if (e instanceof EtcdAuthenticationFailedError || e instanceof EtcdPermissionDeniedError || e instanceof EtcdInvalidAuthTokenError || e instanceof GRPCUnauthenticatedError) {
    return new PollyError('UNAVAILABLE', `store unavailable: etcd refused the credentials: ${message}`, details, { cause: e, retryable: false });
  }
  if (e instanceof GRPCInvalidArgumentError || /too many operations|request is too large|message larger than max/i.test(message)) {
    return new PollyError('INVALID_ARGUMENT', `etcd rejected the request: ${message}`, details, { cause: e });
  }
  const what = e instanceof GRPCDeadlineExceededError ? 'etcd did not answer in time'
    : neverSent(e) ? 'etcd is unreachable' : `etcd: ${message}`;
  return new PollyError('UNAVAILABLE', `store unavailable (${what}); a write is applied whole or not at all: retry`, details, { cause: e, retryable: true });
}
