/** `polly agent`: run a node agent in this process. */
import type { Command } from 'commander';
import type { AgentStartOptions, App } from '../app.js';
import { CliError } from '../errors.js';

interface AgentFlags {
  config?: string;
  server?: string;
  nodeId?: string;
  label?: string[];
  mountDir?: string;
  dockerSocket?: string;
}

export function agentCommand(program: Command, app: App): void {
  program
    .command('agent')
    .description('run the node agent: registers this node with the server, heartbeats, and does its node-side work')
    .option('--server <url>', 'URL of the Polly server (http://host:port or https://host:port)')
    .option('--node-id <id>', 'id of this node (default: the host name)')
    .option('--label <key=value>', 'topology label of the node (repeatable), e.g. --label zone=a', (v: string, prev: string[] = []) => [...prev, v])
    .option('--mount-dir <dir>', 'directory under which volumes are mounted on this node')
    .option('--docker-socket <path>', 'serve the Docker volume plugin of this node on this unix socket (e.g. /run/docker/plugins/polly.sock)')
    .option('-c, --config <file>', 'agent configuration file (YAML: server, nodeId, token, labels, mountDir, pools)')
    .action(async (opts: AgentFlags, cmd: Command) => {
      const start = app.hooks.startAgent;
      if (start === undefined) throw new CliError('this polly build cannot run an agent (no agent wired into the CLI)');
      const logLevel = app.context(cmd).settings.logLevel;
      const startOpts: AgentStartOptions = {
        ...(opts.config !== undefined ? { config: opts.config } : {}),
        ...(opts.server !== undefined ? { server: opts.server } : {}),
        ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {}),
        ...(opts.label !== undefined ? { labels: opts.label } : {}),
        ...(opts.mountDir !== undefined ? { mountDir: opts.mountDir } : {}),
        ...(opts.dockerSocket !== undefined ? { dockerSocket: opts.dockerSocket } : {}),
        ...(logLevel !== undefined ? { logLevel } : {}),
      };
      await start(startOpts);
    });
}
