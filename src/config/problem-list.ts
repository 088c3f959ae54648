import { PollyError } from '../core/errors.js';
import { ConfigError } from './config-error.js';
import type { ConfigPath } from './config-path.js';

export interface PathProblem {
  readonly path: ConfigPath;
  readonly message: string;
}

/** Collects problems so that one run reports all of them. */
export class ProblemList {
  readonly items: PathProblem[] = [];
  readonly warnings: PathProblem[] = [];

  add(path: ConfigPath, what: string, accepted?: string): void {
    this.items.push({ path, message: withAccepted(what, accepted) });
  }

  warn(path: ConfigPath, message: string): void {
    this.warnings.push({ path, message });
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  /**
   * Runs a parse helper; a ConfigError or PollyError it throws becomes a problem at `path`
   * (with `accepted` appended when the helper's message does not say it already).
   */
  attempt<T>(path: ConfigPath, fn: () => T, accepted?: string): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ConfigError) {
        for (const p of e.problems) this.items.push({ path, message: p.message });
        return undefined;
      }
      if (e instanceof PollyError) {
        const field = typeof e.details['field'] === 'string' ? e.details['field'] : '';
        const what = field !== '' && e.message.startsWith(`${field}: `) ? e.message.slice(field.length + 2) : e.message;
        this.add(path, what, what.includes('accepted:') ? undefined : accepted);
        return undefined;
      }
      throw e;
    }
  }
}

/** `what; accepted: …` — or `what; accepted keys: …` when `accepted` starts with "keys: ". */
export function withAccepted(what: string, accepted: string | undefined): string {
  if (accepted === undefined) return what;
  return accepted.startsWith('keys: ') ? `${what}; accepted keys: ${accepted.slice('keys: '.length)}` : `${what}; accepted: ${accepted}`;
}
