/** A real `polly server` serving CSI on a unix socket in its data dir, with a client dialled to it. */
import { join } from 'node:path';
import { csiClient, type CsiClient, type Msg } from './csi-client.js';
import { startPollyServer, type RunningServer } from './server-process.js';

export interface CsiServer {
  readonly server: RunningServer;
  readonly socket: string;
  readonly csi: CsiClient;
  stop(): Promise<void>;
}

export async function startCsiServer(config: Record<string, unknown> = {}): Promise<CsiServer> {
  const server = await startPollyServer({ config: { log: { level: 'warn' }, ...config } });
  const socket = join(server.dataDir, 'csi.sock');
  const csi = csiClient(`unix://${socket}`);
  return {
    server, socket, csi,
    stop: async () => {
      csi.close();
      await server.stop();
    },
  };
}

export const mountCap = (mode = 'SINGLE_NODE_WRITER', fsType = ''): Msg => ({ mount: { fs_type: fsType, mount_flags: [] }, access_mode: { mode } });
export const blockCap = (mode = 'SINGLE_NODE_WRITER'): Msg => ({ block: {}, access_mode: { mode } });
