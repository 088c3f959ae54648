import { PollyError } from './errors.js';

/**
 * Operations in flight in this process, by the thing they work on (`volume:<id>`,
 * `volume-name:<service>/<name>`, `snapshot-name:<service>/<name>` …). A second operation on the
 * same thing while the first runs is turned down with IN_PROGRESS (CSI: ABORTED), as the CSI
 * spec asks of a plugin; the caller retries later.
 */
export class InFlight {
  private readonly busy = new Set<string>();

  async run<T>(keys: readonly string[], what: string, fn: () => Promise<T>): Promise<T> {
    const held = keys.find((k) => this.busy.has(k));
    if (held !== undefined) {
      throw new PollyError('IN_PROGRESS', `an operation on ${held} is already in flight; retry after it finished (${what})`, { key: held });
    }
    for (const k of keys) this.busy.add(k);
    try {
      return await fn();
    } finally {
      for (const k of keys) this.busy.delete(k);
    }
  }

  /** True while an operation holds `key`. */
  has(key: string): boolean {
    return this.busy.has(key);
  }
}
