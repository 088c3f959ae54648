import type { FastifyInstance } from 'fastify';
import { frontDoorApp } from '../front-door.js';
import type { Logger } from 'pino';
import type { Volume } from '../../core/model.js';
import { toGiB } from '../../core/units.js';
import { toDockerError } from './error-map.js';
import { DockerVolumes, type DockerVolumesOptions } from './docker-volumes.js';

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.1+json';

export interface DockerPluginOptions extends DockerVolumesOptions {
  readonly logger?: Logger;
  /** Runs when the listener closes (e.g. to remove the spec file that announced it). */
  readonly onClose?: () => void;
}

type Body = Record<string, unknown>;

/** One plugin method: the request body in, the answer out (errors thrown, mapped by toDockerError). */
export type DockerMethod = (body: Body) => Promise<Record<string, unknown>>;

/** The answers that need no volume work: the same wherever the plugin is served. */
export const STATIC_METHODS: Readonly<Record<string, DockerMethod>> = {
  'Plugin.Activate': async () => ({ Implements: ['VolumeDriver'] }),
  'VolumeDriver.Capabilities': async () => ({ Capabilities: { Scope: 'global' } }),
};

/**
 * The volume plugin's methods (specs/docker/volume-plugin.md) over DockerVolumes: translation
 * only, the work is DockerVolumes' (core use cases). Served on a socket by buildDockerPlugin, and
 * for nodes with their own agent by DockerNodeCalls (the agent relays its Docker's calls).
 */
export function dockerMethods(volumes: DockerVolumes): Readonly<Record<string, DockerMethod>> {
  const view = (v: Volume) => ({ Name: v.name, ...(volumes.mounted(v) ? { Mountpoint: volumes.mountpointOf(v) } : {}) });
  return {
    ...STATIC_METHODS,
    'VolumeDriver.Create': async (b) => {
      await volumes.create(b['Name'], b['Opts']);
      return { Err: '' };
    },
    'VolumeDriver.Remove': async (b) => {
      await volumes.remove(b['Name']);
      return { Err: '' };
    },
    'VolumeDriver.Mount': async (b) => ({ Mountpoint: await volumes.mount(b['Name'], b['ID']), Err: '' }),
    'VolumeDriver.Unmount': async (b) => {
      await volumes.unmount(b['Name'], b['ID']);
      return { Err: '' };
    },
    'VolumeDriver.Path': async (b) => {
      const v = await volumes.find(b['Name']);
      return { Mountpoint: volumes.mounted(v) ? volumes.mountpointOf(v) : '', Err: '' };
    },
    'VolumeDriver.Get': async (b) => {
      const v = await volumes.find(b['Name']);
      return {
        Volume: {
          ...view(v), CreatedAt: new Date(v.createdAt).toISOString(),
          Status: {
            id: v.id, service: v.service, pool: v.pool, sizeGiB: toGiB(v.sizeBytes), status: v.status, type: v.type ?? '',
            attachedTo: v.attachments.map((a) => a.nodeId), labels: v.labels,
          },
        },
        Err: '',
      };
    },
    'VolumeDriver.List': async () => ({ Volumes: (await volumes.list()).map(view), Err: '' }),
  };
}

export interface PluginAppOptions {
  readonly logger?: Logger;
  readonly onClose?: () => void;
}

/**
 * A listener speaking the plugin protocol: every call a POST with a JSON body (Docker sends its
 * plugin content type, or none; an empty body is {}), answers in the plugin content type, errors
 * as `{"Err": "…"}`; each method answered by `methods`.
 */
export async function pluginApp(methods: Readonly<Record<string, DockerMethod>>, options: PluginAppOptions): Promise<FastifyInstance> {
  const app = frontDoorApp({ name: 'docker', bodyLimitBytes: 64 * 1024, toError: toDockerError, ...(options.logger ? { logger: options.logger } : {}) });
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('content-type', PLUGIN_CONTENT_TYPE);
    return payload;
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, {});
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return done(Object.assign(new Error('the body must be a JSON object'), { statusCode: 400 }));
      done(null, parsed);
    } catch {
      done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }));
    }
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ Err: `NOT_FOUND: this plugin has no ${req.method} ${req.url.split('?')[0]}` });
  });
  if (options.onClose) {
    const done = options.onClose;
    app.addHook('onClose', async () => done());
  }
  for (const [name, method] of Object.entries(methods)) {
    app.post(`/${name}`, async (req) => method((req.body ?? {}) as Body));
  }
  await app.ready();
  return app;
}

/** The plugin of the server's own node, on a listener of its own. */
export async function buildDockerPlugin(options: DockerPluginOptions): Promise<FastifyInstance> {
  return pluginApp(dockerMethods(new DockerVolumes(options)), options);
}
