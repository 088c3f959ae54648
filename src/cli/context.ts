/** Effective settings of one CLI run (flags over POLLY_* environment over defaults) and what commands use. */
import { resolveBaseUrl } from '../client/endpoint.js';
import { PollyClient } from '../client/polly-client.js';
import { clientVersion } from './client-version.js';
import type { CliIo } from './io.js';
import { isFormat, render, FORMATS, type Format } from './output.js';
import type { Column } from './table.js';
import { UsageError } from './errors.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The program-wide options as commander hands them over. */
export interface GlobalOptions {
  host?: string;
  token?: string;
  format?: string;
  logLevel?: string;
}

export type Source = 'flag' | 'env' | 'default';

export interface Settings {
  host: { value: string | undefined; source: Source };
  token: { value: string | undefined; source: Source };
  format: { value: Format; source: Source };
  /** Undefined when not given: the server then takes its configured level, the client uses warn. */
  logLevel: LogLevel | undefined;
}

function pick(flag: string | undefined, envValue: string | undefined): { value: string | undefined; source: Source } {
  if (flag !== undefined && flag !== '') return { value: flag, source: 'flag' };
  if (envValue !== undefined && envValue !== '') return { value: envValue, source: 'env' };
  return { value: undefined, source: 'default' };
}

export function settingsFrom(globals: GlobalOptions, env: CliIo['env']): Settings {
  const host = pick(globals.host, env.POLLY_HOST);
  const token = pick(globals.token, env.POLLY_TOKEN);
  const fmt = pick(globals.format, env.POLLY_FORMAT);
  const format = (fmt.value ?? 'yaml').toLowerCase();
  if (!isFormat(format)) {
    const where = fmt.source === 'env' ? 'POLLY_FORMAT' : '--format';
    throw new UsageError(`${where}: "${fmt.value}" is not a format; use one of ${FORMATS.join(', ')}`);
  }
  let logLevel: LogLevel | undefined;
  if (globals.logLevel !== undefined) {
    const l = globals.logLevel.toLowerCase();
    if (!(LOG_LEVELS as readonly string[]).includes(l)) {
      throw new UsageError(`--logLevel: "${globals.logLevel}" is not a log level; use one of ${LOG_LEVELS.join(', ')}`);
    }
    logLevel = l as LogLevel;
  }
  return { host, token, format: { value: format, source: fmt.source }, logLevel };
}

export class CliContext {
  #client: PollyClient | undefined;

  constructor(
    readonly io: CliIo,
    readonly settings: Settings,
  ) {}

  get format(): Format {
    return this.settings.format.value;
  }

  get debugging(): boolean {
    return this.settings.logLevel === 'debug';
  }

  /** Base URL of the server; throws InvalidHostError for a host it cannot use. */
  baseUrl(): string {
    return resolveBaseUrl(this.settings.host.value);
  }

  client(): PollyClient {
    if (this.#client === undefined) {
      this.#client = new PollyClient({
        baseUrl: this.baseUrl(),
        token: this.settings.token.value,
        userAgent: `polly-cli/${clientVersion()}`,
        onResponse: this.debugging
          ? (r) => this.io.stderr.write(`debug: ${r.method} ${r.url} → ${r.status} (${r.ms} ms)\n`)
          : undefined,
      });
    }
    return this.#client;
  }

  /** Prints a result in the chosen format; `columns` draw it as a table. */
  print<T>(data: T | T[], columns?: readonly Column<T>[]): void {
    this.io.stdout.write(render(this.format, data, columns));
  }
}
