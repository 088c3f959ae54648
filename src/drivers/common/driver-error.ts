import { PollyError } from '../../core/errors.js';
import { CommandFailed } from '../node/run-command.js';

/**
 * Maps what a driver operation threw to what callers see: PollyErrors as they are (a failed
 * tool's CommandFailed whose stderr says the disk is full becomes INSUFFICIENT_CAPACITY), the
 * signal's reason when the operation was aborted, a full disk as INSUFFICIENT_CAPACITY and any
 * other filesystem error as BACKEND_ERROR (with the errno code and path in details).
 */
export function toDriverError(driver: string, e: unknown, op: string, signal: AbortSignal | undefined): unknown {
  if (e instanceof CommandFailed && /no space left on device|disk quota exceeded/i.test(e.stderr)) {
    return new PollyError('INSUFFICIENT_CAPACITY', `${driver} driver ${op}: no space left: ${e.message}`, { op, ...e.details }, { cause: e });
  }
  if (e instanceof PollyError) return e;
  if (signal?.aborted && (e === signal.reason || (e instanceof Error && e.name === 'AbortError'))) return e;
  const errno = e as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message : String(e);
  const details: Record<string, unknown> = { op };
  if (typeof errno?.code === 'string') details['errno'] = errno.code;
  if (errno?.path !== undefined) details['path'] = String(errno.path);
  // EDQUOT is errno 122, which Node names "Unknown system error -122".
  if (errno?.code === 'ENOSPC' || errno?.code === 'EDQUOT' || errno?.errno === -122) {
    return new PollyError('INSUFFICIENT_CAPACITY', `${driver} driver ${op}: no space left: ${message}`, details, { cause: e });
  }
  return new PollyError('BACKEND_ERROR', `${driver} driver ${op}: ${message}`, details, { cause: e });
}
