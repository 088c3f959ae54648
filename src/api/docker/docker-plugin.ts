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

/**
 * The Docker volume plugin protocol (specs/docker/volume-plugin.md): every call a POST with a JSON
 * body, answers in the plugin content type, errors as `{"Err": "…"}`. Translation only; the work
 * is DockerVolumes' (core use cases).
 */
export async function buildDockerPlugin(options: DockerPluginOptions): Promise<FastifyInstance> {
  const volumes = new DockerVolumes(options);
  const app = frontDoorApp({ name: 'docker', bodyLimitBytes: 64 * 1024, toError: toDockerError, ...(options.logger ? { logger: options.logger } : {}) });
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('content-type', PLUGIN_CONTENT_TYPE);
    return payload;
  });

  // Docker sends its plugin content type (or none); every body is JSON, an empty one is {}.
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

  const view = (v: Volume) => ({ Name: v.name, ...(volumes.mounted(v) ? { Mountpoint: volumes.mountpointOf(v) } : {}) });
  const body = (b: unknown): Body => (b ?? {}) as Body;

  if (options.onClose) {
    const done = options.onClose;
    app.addHook('onClose', async () => done());
  }
  app.post('/Plugin.Activate', async () => ({ Implements: ['VolumeDriver'] }));
  app.post('/VolumeDriver.Capabilities', async () => ({ Capabilities: { Scope: 'global' } }));
  app.post('/VolumeDriver.Create', async (req) => {
    const b = body(req.body);
    await volumes.create(b['Name'], b['Opts']);
    return { Err: '' };
  });
  app.post('/VolumeDriver.Remove', async (req) => {
    await volumes.remove(body(req.body)['Name']);
    return { Err: '' };
  });
  app.post('/VolumeDriver.Mount', async (req) => {
    const b = body(req.body);
    return { Mountpoint: await volumes.mount(b['Name'], b['ID']), Err: '' };
  });
  app.post('/VolumeDriver.Unmount', async (req) => {
    const b = body(req.body);
    await volumes.unmount(b['Name'], b['ID']);
    return { Err: '' };
  });
  app.post('/VolumeDriver.Path', async (req) => {
    const v = await volumes.find(body(req.body)['Name']);
    return { Mountpoint: volumes.mounted(v) ? volumes.mountpointOf(v) : '', Err: '' };
  });
  app.post('/VolumeDriver.Get', async (req) => {
    const v = await volumes.find(body(req.body)['Name']);
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
  });
  app.post('/VolumeDriver.List', async () => ({ Volumes: (await volumes.list()).map(view), Err: '' }));
  await app.ready();
  return app;
}
