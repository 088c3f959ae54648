import { PollyError } from '../../core/errors.js';
import { toDriverError } from './driver-error.js';

/**
 * How a driver runs its public operations: refused with UNAVAILABLE after close, errors mapped
 * by toDriverError (`onError` sees them first), and close() waits for those still running.
 */
export class OperationRunner {
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly driver: string,
    private readonly service: string,
    private readonly onError: () => void = () => undefined,
  ) {}

  run<T>(op: string, options: { readonly signal?: AbortSignal | undefined } | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PollyError('UNAVAILABLE', `${this.driver} driver of service "${this.service}" is closed`));
    const signal = options?.signal;
    const task = (async () => {
      try {
        signal?.throwIfAborted();
        return await fn();
      } catch (e) {
        this.onError();
        throw toDriverError(this.driver, e, op, signal);
      }
    })();
    this.running.add(task);
    const forget = (): void => void this.running.delete(task);
    task.then(forget, forget);
    return task;
  }

  /** Refuses new operations and waits for the running ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }
}
