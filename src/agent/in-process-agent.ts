import { AgentRuntime, type AgentOptions } from './agent-runtime.js';
import type { ChannelServer } from './channel-server.js';

/**
 * The server's own agent for its host: the same runtime as `polly agent`, linked to the channel
 * in memory, so a one-machine install is one process and goes through the same code path.
 */
export function startInProcessAgent(channel: ChannelServer, options: Omit<AgentOptions, 'inProcess' | 'selfFence'>): { stop(): Promise<void> } {
  const runtime = new AgentRuntime({ ...options, inProcess: true, selfFence: false });
  const link = channel.link((m) => void runtime.handle(m).catch((err: unknown) => options.logger.error({ err }, 'in-process agent failed')));
  runtime.connected((m) => link.receive(m));
  return {
    stop: async () => {
      runtime.disconnected();
      link.close();
      await runtime.close();
    },
  };
}
