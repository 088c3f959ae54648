import { PollyError } from '../../core/errors.js';

/**
 * Maps what a dir driver operation threw to what callers see: PollyErrors as they are, the
 * signal's reason when the operation was aborted, a full disk as INSUFFICIENT_CAPACITY and any
 * other filesystem error as BACKEND_ERROR (with the errno code and path in details).
 */
export function toDriverError(e: unknown, op: string, signal: AbortSignal | undefined): unknown {
  if (e instanceof PollyError) return e;
  if (signal?.aborted && (e === signal.reason || (e instanceof Error && e.name === 'AbortError'))) return e;
  const errno = e as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message : String(e);
  const details: Record<string, unknown> = { op };
  if (typeof errno?.code === 'string') details['errno'] = errno.code;
  if (errno?.path !== undefined) details['path'] = String(errno.path);
  if (errno?.code === 'ENOSPC' || errno?.code === 'EDQUOT') {
    return new PollyError('INSUFFICIENT_CAPACITY', `dir driver ${op}: no space left: ${message}`, details, { cause: e });
  }
  return new PollyError('BACKEND_ERROR', `dir driver ${op}: ${message}`, details, { cause: e });
}
