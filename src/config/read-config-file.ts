import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, type ConfigProblem } from './config-error.js';
import type { ConfigPath } from './config-path.js';

export const DEFAULT_CONFIG_FILE = '/etc/polly/config.yml';

export interface ConfigFile {
  /** Absolute path of the file read. */
  readonly source: string;
  /** The parsed content; null for an empty file. */
  readonly data: unknown;
  /** Line (1-based) of the key or item at `path`, or of its nearest ancestor present in the file. */
  lineOf(path: ConfigPath): number | undefined;
}

/**
 * Picks and parses the configuration file: `configFile` when given (it must exist), else
 * `defaultConfigFile` when it exists, else none (undefined: run on defaults).
 */
export function readConfigFile(options: { configFile?: string; defaultConfigFile?: string }): ConfigFile | undefined {
  let file: string;
  if (options.configFile !== undefined) {
    file = resolve(options.configFile);
  } else {
    file = resolve(options.defaultConfigFile ?? DEFAULT_CONFIG_FILE);
    if (!existsSync(file)) return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code ?? String(e)})`;
    throw new ConfigError([{ path: file, message: `${what}; accepted: a readable YAML file` }], file);
  }
  return parseConfigText(text, file);
}

/** Parses YAML text; syntax errors become one ConfigError with every error and its line. */
export function parseConfigText(text: string, source: string): ConfigFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    return { path: source, message: `YAML syntax error at line ${line}, column ${col}: ${e.message}`, line };
  });
  if (problems.length > 0) throw new ConfigError(problems, source);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError([{ path: source, message: `YAML cannot be read: ${e instanceof Error ? e.message : String(e)}` }], source);
  }
  return { source, data, lineOf: (path) => lineOf(doc, lineCounter, path) };
}

function lineOf(doc: Document, counter: LineCounter, path: ConfigPath): number | undefined {
  let node: unknown = doc.contents;
  let line = rangeLine(node, counter);
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) break;
      line = rangeLine(pair.key, counter) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      line = rangeLine(item, counter) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}

function rangeLine(node: unknown, counter: LineCounter): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range === undefined ? undefined : counter.linePos(range[0]).line;
}
