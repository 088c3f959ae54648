import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/ports/logger.js';
import { controllerService } from './controller-service.js';
import { loadCsi } from './csi-proto.js';
import type { CsiDeps } from './csi-deps.js';
import { identityService } from './identity-service.js';
import { implementation, type Handler } from './rpc.js';

export type CsiServiceName = 'identity' | 'controller' | 'node';

export interface CsiEndpoint {
  /** `unix:///absolute/path.sock` or `tcp://host:port`. */
  readonly endpoint: string;
  readonly services: readonly CsiServiceName[];
}

/** Node service handlers, supplied by the composition root when this host serves one. */
export type NodeServiceFactory = (deps: CsiDeps) => Record<string, Handler>;

export interface RunningCsi {
  /** The addresses bound, as `unix:///…` or `tcp://host:port` (with the real port for port 0). */
  readonly addresses: readonly string[];
  /** Stops taking calls, lets running ones finish for up to `graceMs`, then cuts them. */
  close(graceMs: number): Promise<void>;
}

/**
 * Serves the CSI services over gRPC, one grpc.Server per endpoint (so a controller-only endpoint
 * and a node-only endpoint can live side by side). Identity is served on every endpoint: the spec
 * asks every plugin endpoint for it. A stale unix socket from an earlier run is replaced; any other
 * file at the socket path is left alone and the start fails.
 */
export async function startCsi(deps: CsiDeps, endpoints: readonly CsiEndpoint[], node?: NodeServiceFactory): Promise<RunningCsi> {
  const csi = loadCsi();
  const servers: { server: grpc.Server; socket?: string }[] = [];
  const addresses: string[] = [];
  try {
    for (const ep of endpoints) {
      // No channelz: Polly does not serve it, and its per-call bookkeeping is pure cost.
      const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.enable_channelz': 0 });
      const has = (s: CsiServiceName) => ep.services.includes(s);
      server.addService(csi.Identity.service, implementation(deps.logger, identityService(deps, { controller: has('controller') })));
      if (has('controller')) server.addService(csi.Controller.service, implementation(deps.logger, controllerService(deps)));
      if (has('node')) {
        if (!node) throw new Error(`CSI endpoint ${ep.endpoint}: this server has no node service to offer`);
        server.addService(csi.Node.service, implementation(deps.logger, node(deps)));
      }
      const socket = ep.endpoint.startsWith('unix://') ? ep.endpoint.slice('unix://'.length) : undefined;
      if (socket !== undefined) removeStaleSocket(socket);
      const target = socket !== undefined ? `unix://${socket}` : ep.endpoint.slice('tcp://'.length);
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`CSI endpoint ${ep.endpoint}: ${err.message}`)) : resolve(p))));
      servers.push({ server, ...(socket !== undefined ? { socket } : {}) });
      if (socket !== undefined) {
        chmodSync(socket, 0o660); // the socket is the credential: owner and group only
        addresses.push(`unix://${socket}`);
      } else {
        addresses.push(`tcp://${target.slice(0, target.lastIndexOf(':'))}:${port}`);
      }
      deps.logger.info({ endpoint: addresses[addresses.length - 1], services: ep.services }, 'CSI endpoint listening');
    }
  } catch (e) {
    for (const s of servers) s.server.forceShutdown();
    throw e;
  }
  return {
    addresses,
    close: (graceMs) => Promise.all(servers.map((s) => shutdown(s.server, graceMs, deps.logger).finally(() => s.socket !== undefined && removeStaleSocket(s.socket)))).then(() => undefined),
  };
}

function shutdown(server: grpc.Server, graceMs: number, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      logger.warn({}, 'CSI shutdown timeout: cutting running calls');
      server.forceShutdown();
      resolve();
    }, graceMs);
    force.unref();
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

function removeStaleSocket(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`CSI endpoint unix://${path}: a file that is not a socket is in the way`);
  unlinkSync(path);
}
