import { PollyError } from '../../core/errors.js';
import { checkName } from '../../core/names.js';
import type { Logger } from '../../core/ports/logger.js';
import type { Polly } from '../../core/polly.js';
import { dockerMethods, type DockerMethod } from './docker-plugin.js';
import { DockerVolumes } from './docker-volumes.js';
import { toDockerError } from './error-map.js';

export interface DockerNodeCallsOptions {
  readonly polly: Polly;
  /** Service of volumes created without `--opt service=` (the server's `docker.service`). */
  readonly defaultService: string;
  readonly logger: Logger;
}

/** A plugin answer as the node's agent writes it back to its Docker. */
export interface DockerAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * The Docker volume plugin of nodes that run their own agent (D80): each agent serves the plugin
 * socket its Docker uses and relays every call over its node channel; the server answers it here
 * for that node — the node the channel authenticated, never one named in the call — with the same
 * methods and tenancy as its own plugin. Mount attaches the volume to the node, so the node's
 * agent mounts it (in its mount namespace) and the answer is the agent's mount path.
 */
export class DockerNodeCalls {
  private readonly perNode = new Map<string, Readonly<Record<string, DockerMethod>>>();

  constructor(private readonly o: DockerNodeCallsOptions) {}

  private methodsOf(nodeId: string): Readonly<Record<string, DockerMethod>> {
    let m = this.perNode.get(nodeId);
    if (!m) {
      const volumes = new DockerVolumes({ polly: this.o.polly, nodeId: checkName('nodeId', nodeId), mountRoot: '/', defaultService: this.o.defaultService, nodeSide: 'agent' });
      m = dockerMethods(volumes);
      this.perNode.set(nodeId, m);
    }
    return m;
  }

  /** Answers one call of `nodeId`'s Docker; errors come back in the plugin's `{"Err": …}` shape. */
  async answer(nodeId: string, method: string, body: Readonly<Record<string, unknown>>): Promise<DockerAnswer> {
    const methods = this.methodsOf(nodeId);
    const fn = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!fn) return { status: 404, body: { Err: `NOT_FOUND: this plugin has no POST /${method.slice(0, 64)}` } };
    try {
      return { status: 200, body: await fn({ ...body }) };
    } catch (e) {
      if (!(e instanceof PollyError) || e.code === 'INTERNAL' || e.code === 'BACKEND_ERROR') this.o.logger.error({ err: e, nodeId, method }, 'docker plugin call of a node failed');
      return toDockerError(e);
    }
  }

  /**
   * A call whose answer never reached the node's Docker: a Mount it answered is unmounted again
   * (Docker will never send the Unmount for that ID), so the holder count and the attachment do
   * not outlive it. Other methods leave nothing a caller holds.
   */
  async abandoned(nodeId: string, method: string, body: Readonly<Record<string, unknown>>, answer: DockerAnswer): Promise<void> {
    const mounted = method === 'VolumeDriver.Mount' && answer.status === 200 && !(answer.body && typeof answer.body === 'object' && 'Err' in answer.body && (answer.body as { Err: unknown }).Err);
    if (!mounted) return;
    const undone = await this.answer(nodeId, 'VolumeDriver.Unmount', { Name: body['Name'], ID: body['ID'] });
    if (undone.status !== 200) this.o.logger.error({ nodeId, body: undone.body }, 'unmounting an abandoned docker mount failed');
  }
}
