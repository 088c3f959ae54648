/** What every command module gets from the program: streams, hooks and the run's context. */
import type { Command } from 'commander';
import type { CliContext } from './context.js';
import type { CliIo } from './io.js';

export interface ServerStartOptions {
  config?: string;
  dataDir?: string;
  host?: string;
  logLevel?: string;
}

export interface AgentStartOptions {
  config?: string;
  server?: string;
  nodeId?: string;
  labels?: string[];
  mountDir?: string;
  dockerSocket?: string;
  logLevel?: string;
}

export interface StoreMigrateOptions {
  from: string;
  to: string;
  prefix?: string;
  ca?: string;
  cert?: string;
  key?: string;
  username?: string;
  password?: string;
}

export interface CliHooks {
  /** Runs a node agent in this process until it stops; wired by the composition root. */
  startAgent?: (opts: AgentStartOptions) => Promise<void>;
  /** Runs the server in this process until it stops; wired by the composition root. */
  startServer?: (opts: ServerStartOptions) => Promise<void>;
  /**
   * `polly store migrate`: the one command that opens stores itself rather than calling a server
   * (D45); wired by the composition root. Resolves with the verification report.
   */
  migrateStore?: (opts: StoreMigrateOptions, onProgress: (copied: number) => void) => Promise<unknown>;
}

export interface App {
  io: CliIo;
  hooks: CliHooks;
  /** Settings and client for the command being run (reads the program-wide options). */
  context(cmd: Command): CliContext;
}
