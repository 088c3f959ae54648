/** A canned set of fake-server routes covering the whole admin API, for CLI tests. */
import type { FakeHandler } from '../../client/testing/fake-server.js';
import { pool, service, snapshot, volume } from '../../client/testing/fixtures.js';
import type { Volume } from '../../client/types.js';

const GiB = 1024 ** 3;

export const err = (status: number, code: string, message: string, details: Record<string, unknown> = {}) => ({
  status,
  body: { error: { code, message, details } },
});

export function standardRoutes(): Record<string, FakeHandler> {
  let polls = 0;
  const find = (id: string) => (id === 'vol-1' || id === 'vol-2' ? volume({ id }) : undefined);
  return {
    'GET /v1/version': () => ({ body: { version: '0.2.0', api: 'v1', node: 'v20.0.0', store: 'sqlite' } }),
    'GET /v1/services': () => ({
      body: {
        items: [
          service(),
          service({ name: 'fast', driver: 'image', defaultSize: 5 * GiB, pools: ['ssd'] }),
          // A service that reports no default size: the CLI leaves the size to the server.
          { ...service({ name: 'bare' }), defaultSize: undefined },
        ],
      },
    }),
    'GET /v1/pools': (r) => ({ body: { items: [pool(), pool({ id: 'fast/ssd', service: 'fast', name: 'ssd', zone: 'z1' })].filter((p) => !r.query.get('service') || p.service === r.query.get('service')) } }),
    'GET /v1/volumes': (r) => {
      const cursor = r.query.get('cursor');
      if (cursor === null) return { body: { items: [volume({ id: 'vol-1', name: 'one', schedulers: ['k8s', 'nomad'] })], next: 'p2' } };
      if (cursor === 'p2') return { body: { items: [volume({ id: 'vol-2', name: 'two', size: 512 * 1024 ** 2 })], next: 'p3' } };
      return { body: { items: [volume({ id: 'vol-3', name: 'three', status: 'attached' })] } };
    },
    'GET /v1/volumes/:id': (r) => {
      const v = find(r.params.id!);
      return v ? { body: v } : err(404, 'NOT_FOUND', `volume "${r.params.id}" not found`, { kind: 'volume', id: r.params.id });
    },
    'DELETE /v1/volumes/:id': (r) => {
      const v = find(r.params.id!);
      return v ? { body: { ...v, status: 'deleting' } } : err(404, 'NOT_FOUND', `volume "${r.params.id}" not found`, { kind: 'volume', id: r.params.id });
    },
    'POST /v1/volumes': (r) => {
      const b = r.body as { name: string; size: number; service: string; source?: unknown; labels?: Record<string, string>; schedulers?: string[] };
      if (b.service === 'full') {
        return err(507, 'INSUFFICIENT_CAPACITY', 'no pool can hold 10Gi', { pools: { p1: 'needs 10 GiB, 3 GiB free' } });
      }
      if (b.source && r.headers.prefer === 'respond-async') {
        return { status: 202, body: { operation: { id: 'op-9', kind: 'create-volume', status: 'running', progress: { doneBytes: 0, totalBytes: 4 * GiB } } } };
      }
      const v: Volume = volume({ id: 'vol-new', name: b.name, size: b.size, service: b.service, labels: b.labels ?? {}, schedulers: b.schedulers ?? [] });
      return { status: 201, body: v };
    },
    'GET /v1/operations/:id': () => {
      polls++;
      const done = polls >= 2;
      return {
        body: {
          operation: {
            id: 'op-9',
            kind: 'create-volume',
            status: done ? 'succeeded' : 'running',
            progress: { doneBytes: done ? 4 * GiB : 2 * GiB, totalBytes: 4 * GiB },
            ...(done ? { result: volume({ id: 'vol-clone', name: 'clone' }) } : {}),
          },
        },
      };
    },
    'POST /v1/volumes/:id/labels': (r) => {
      const b = r.body as { set?: Record<string, string>; remove?: string[] };
      const labels: Record<string, string> = { color: 'magenta', size: 'large', ...(b.set ?? {}) };
      for (const k of b.remove ?? []) delete labels[k];
      return { body: volume({ id: r.params.id!, labels }) };
    },
    'POST /v1/volumes/:id/offer': (r) => ({ body: volume({ id: r.params.id!, schedulers: (r.body as { schedulers: string[] }).schedulers }) }),
    'POST /v1/volumes/:id/revoke': (r) => ({ body: volume({ id: r.params.id!, schedulers: ['nomad'] }) }),
    'POST /v1/volumes/:id/snapshots': (r) => {
      if (r.headers.prefer === 'respond-async') {
        return { status: 202, body: { operation: { id: 'op-9', kind: 'create-snapshot', status: 'running', progress: { doneBytes: 0, totalBytes: 4 * GiB } } } };
      }
      return { status: 201, body: snapshot({ volumeId: r.params.id!, name: (r.body as { name: string }).name }) };
    },
    'GET /v1/snapshots': () => ({ body: { items: [snapshot(), snapshot({ id: 'snap-2', name: 's2' })] } }),
    'GET /v1/snapshots/:id': (r) => (r.params.id === 'snap-1' ? { body: snapshot() } : err(404, 'NOT_FOUND', `snapshot "${r.params.id}" not found`)),
    'DELETE /v1/snapshots/:id': (r) => ({ body: snapshot({ id: r.params.id! }) }),
    'GET /v1/unmanaged': () => ({ body: { items: [{ service: 'local', pool: 'p1', backendId: 'orphan-7', kind: 'dir', size: 2 * GiB }] } }),
    'POST /v1/unmanaged/adopt': (r) => ({ status: 201, body: volume({ id: 'vol-adopted', name: (r.body as { name: string }).name }) }),
    'GET /v1/store': (r) => {
      if (r.query.get('cursor') === null) return { body: { items: [{ key: 'polly/volumes/vol-1', revision: 4, value: { id: 'vol-1', name: 'one' } }], next: 's2' } };
      return { body: { items: [{ key: 'polly/volumes/vol-2', revision: 5, value: 'plain' }] } };
    },
    'POST /v1/store/erase': () => ({ body: { erased: 2 } }),
  };
}
