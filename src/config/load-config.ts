import { hostname } from 'node:os';
import { applyOverrides, type ConfigFlags } from './apply-overrides.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { formatPath, PathAliases, type ConfigPath } from './config-path.js';
import { deepFreeze } from './deep-freeze.js';
import { normalizeConfig } from './normalize-config.js';
import type { PollyConfig } from './polly-config.js';
import { ProblemList, type PathProblem } from './problem-list.js';
import { readConfigFile, type ConfigFile } from './read-config-file.js';
import { PollyFileSchema, type PollyFile } from './schema.js';
import { is2016Layout, translate2016 } from './translate-2016.js';
import { stripNulls, validateSchema } from './validate-schema.js';

export interface LoadOptions {
  /** A file named explicitly (e.g. `--config`): it must exist. */
  configFile?: string;
  /** Defaults to process.env. Only the POLLY_* variables in docs/configuration.md are read. */
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
  knownDrivers: readonly string[];
  knownFilters: readonly string[];
  knownScorers: readonly string[];
  /** Read when `configFile` is not given and this file exists; default '/etc/polly/config.yml'. */
  defaultConfigFile?: string;
}

/**
 * Loads the configuration: defaults < file < env `POLLY_*` < flags. Accepts Polly's own layout
 * and the 2016 layout (`polly:` / `libstorage:`). Everything is checked once, here; the result is
 * deep-frozen. Throws a ConfigError listing every problem, each named by its key path.
 */
export function loadConfig(options: LoadOptions): PollyConfig {
  const file = readConfigFile(options);
  const source = file?.source ?? 'defaults';
  const data: unknown = file?.data ?? {};
  const aliases = new PathAliases();
  const legacy = new ProblemList();
  const problems = new ProblemList();
  const fail = (): never => {
    throw new ConfigError([...render(legacy.items, file, undefined), ...render(problems.items, file, aliases)], source);
  };

  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    legacy.add([], `the file holds ${Array.isArray(data) ? 'a list' : `a ${typeof data}`}`, 'a YAML mapping of settings (server, store, services, …) or the 2016 layout (polly, libstorage)');
    fail();
  }
  let doc = data as Record<string, unknown>;
  // Top-level `x-…` keys are free for YAML anchors (as in Compose files) and ignored.
  for (const key of Object.keys(doc)) if (key.startsWith('x-')) delete doc[key];
  let libstorageRaw: Record<string, unknown> = {};
  if (is2016Layout(doc)) {
    const t = translate2016(doc, { knownDrivers: options.knownDrivers, problems: legacy, aliases });
    doc = t.doc;
    libstorageRaw = t.libstorageRaw;
  } else {
    stripNulls(PollyFileSchema, doc);
    const ls = doc['libstorage'];
    if (ls !== null && typeof ls === 'object' && !Array.isArray(ls)) libstorageRaw = structuredClone(ls as Record<string, unknown>);
  }

  applyOverrides(doc, options.env ?? process.env, options.flags ?? {}, aliases);
  if (!validateSchema(PollyFileSchema, doc, problems)) fail();

  const nameOf = (path: ConfigPath): string => formatPath(aliases.resolve(path).path);
  const normalized = normalizeConfig({
    doc: doc as PollyFile,
    libstorageRaw,
    registry: options,
    problems,
    nameOf,
    cwd: process.cwd(),
    hostname: hostname(),
  });
  if (!problems.empty || !legacy.empty) fail();

  const warnings = [...legacy.warnings, ...problems.warnings].map((w) => `${formatPath(w.path)}: ${w.message}`);
  return deepFreeze({ source, ...normalized, warnings });
}

/** Problems as the user sees them: renamed to their 2016 key, env var or flag, with the file line. */
function render(items: readonly PathProblem[], file: ConfigFile | undefined, aliases: PathAliases | undefined): ConfigProblem[] {
  return items.map((p) => {
    const resolved = aliases === undefined ? { path: p.path, external: false } : aliases.resolve(p.path);
    const line = resolved.external || file === undefined ? undefined : file.lineOf(resolved.path);
    return line === undefined ? { path: formatPath(resolved.path), message: p.message } : { path: formatPath(resolved.path), message: p.message, line };
  });
}
