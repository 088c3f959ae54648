import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { STATIC_METHODS, pluginApp, type DockerMethod } from './docker-plugin.js';
import { RelayedAnswer } from './error-map.js';

/** The volume methods a node's agent relays to the server. */
export const RELAYED_METHODS = [
  'VolumeDriver.Create', 'VolumeDriver.Remove', 'VolumeDriver.Mount', 'VolumeDriver.Unmount',
  'VolumeDriver.Path', 'VolumeDriver.Get', 'VolumeDriver.List',
] as const;

export interface DockerRelayOptions {
  /**
   * Sends one call to the server (over the node channel) and resolves with the server's answer;
   * rejects (a PollyError) when the server cannot be asked, which Docker gets as `{"Err": …}`.
   */
  readonly forward: (method: string, body: Readonly<Record<string, unknown>>) => Promise<{ status: number; body: unknown }>;
  readonly logger?: Logger;
  readonly onClose?: () => void;
}

/**
 * The Docker volume plugin as a node's agent serves it (D80): the same listener and protocol as
 * the server's plugin; Activate and Capabilities are answered here, every volume method is
 * relayed to the server, which does the work for this node (DockerNodeCalls).
 */
export async function buildDockerRelay(options: DockerRelayOptions): Promise<FastifyInstance> {
  const methods: Record<string, DockerMethod> = { ...STATIC_METHODS };
  for (const name of RELAYED_METHODS) {
    methods[name] = async (body) => {
      const answer = await options.forward(name, body);
      if (answer.status !== 200) {
        const err = (answer.body as { Err?: unknown } | null)?.Err;
        throw new RelayedAnswer(answer.status, { Err: typeof err === 'string' ? err : `INTERNAL: the server answered ${answer.status}` });
      }
      return answer.body as Record<string, unknown>;
    };
  }
  return pluginApp(methods, options);
}
