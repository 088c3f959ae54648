import { toDriverError as mapDriverError } from '../common/driver-error.js';

/**
 * Maps what a dir driver operation threw to what callers see: PollyErrors as they are, the
 * signal's reason when the operation was aborted, a full disk as INSUFFICIENT_CAPACITY and any
 * other filesystem error as BACKEND_ERROR (with the errno code and path in details).
 */
export const toDriverError = (e: unknown, op: string, signal: AbortSignal | undefined): unknown => mapDriverError('dir', e, op, signal);
