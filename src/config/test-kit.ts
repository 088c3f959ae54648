import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config-error.js';
import { loadConfig, type LoadOptions } from './load-config.js';
import type { PollyConfig } from './polly-config.js';

/** Helpers shared by the config tests (not a test file itself). */

export const FILTERS = ['service', 'capacity', 'type', 'topology', 'iops', 'labels'] as const;
export const SCORERS = ['least-allocated', 'zone-spread'] as const;

export interface Sandbox {
  readonly dir: string;
  /** Writes a file in the sandbox and returns its absolute path. */
  write(name: string, text: string): string;
  /** loadConfig with an empty env, the test registries and no default file. */
  load(options?: Partial<LoadOptions>): PollyConfig;
  /** Expects loadConfig to throw a ConfigError; returns it. */
  fail(options?: Partial<LoadOptions>): ConfigError;
  cleanup(): void;
}

export function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'polly-config-'));
  const base = (options: Partial<LoadOptions>): LoadOptions => ({
    env: {},
    knownDrivers: ['dir'],
    knownFilters: FILTERS,
    knownScorers: SCORERS,
    defaultConfigFile: join(dir, 'absent.yml'),
    ...options,
  });
  return {
    dir,
    write(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
    load: (options = {}) => loadConfig(base(options)),
    fail(options = {}) {
      try {
        loadConfig(base(options));
      } catch (e) {
        if (e instanceof ConfigError) return e;
        throw e;
      }
      throw new Error('expected a ConfigError, but the configuration loaded');
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Indents a YAML block for embedding (tests keep YAML readable with a leading newline). */
export const yaml = (text: string): string => {
  const lines = text.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
};
