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

  /** Runs a parse helper; the problems of a ConfigError it throws are recorded at `path`. */
  attempt<T>(path: ConfigPath, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) this.items.push({ path, message: p.message });
      return undefined;
    }
  }
}

/** `what; accepted: …` — or `what; accepted keys: …` when `accepted` starts with "keys: ". */
export function withAccepted(what: string, accepted: string | undefined): string {
  if (accepted === undefined) return what;
  return accepted.startsWith('keys: ') ? `${what}; accepted keys: ${accepted.slice('keys: '.length)}` : `${what}; accepted: ${accepted}`;
}
