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
  logLevel?: string;
}

export interface CliHooks {
  /** Runs a node agent in this process until it stops; wired by the composition root. */
  startAgent?: (opts: AgentStartOptions) => Promise<void>;
  /** Runs the server in this process until it stops; wired by the composition root. */
  startServer?: (opts: ServerStartOptions) => Promise<void>;
}

export interface App {
  io: CliIo;
  hooks: CliHooks;
  /** Settings and client for the command being run (reads the program-wide options). */
  context(cmd: Command): CliContext;
}
