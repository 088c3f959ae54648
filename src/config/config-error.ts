/** One thing wrong with the configuration, named by where it is. */
export interface ConfigProblem {
  /** Dotted key path (`services.default.pools[0].capacity`), an env var name, a flag or a file. */
  readonly path: string;
  /** What is wrong and, where it makes sense, `; accepted: <what is accepted>`. */
  readonly message: string;
  /** Line in the configuration file, when the problem is in the file and the line is known. */
  readonly line?: number;
}

export const formatProblem = (p: ConfigProblem): string =>
  `${p.path}: ${p.message}${p.line === undefined || p.message.includes(`line ${p.line},`) ? '' : ` [line ${p.line}]`}`;

/** Thrown by `loadConfig` (and the parse helpers) with every problem found, not just the first. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  readonly source: string | undefined;

  constructor(problems: readonly ConfigProblem[], source?: string) {
    const where = source === undefined ? 'configuration' : `configuration (${source})`;
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid ${where}, ${count}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
    this.source = source;
  }
}

export const isConfigError = (e: unknown): e is ConfigError => e instanceof ConfigError;
