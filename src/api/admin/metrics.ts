import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { keys } from '../../core/keys.js';
import type { Volume } from '../../core/model.js';
import type { Polly } from '../../core/polly.js';
import { ADMIN } from '../../core/model.js';

const STATES = ['creating', 'available', 'attached', 'deleting', 'error'] as const;
const COUNT_EVERY_MS = 15_000;

/** Prometheus metrics: requests per route, volumes per state, pool capacity. */
export function registerMetrics(app: FastifyInstance, polly: Polly): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'polly_process_' });
  const requests = new Counter({ name: 'polly_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'polly_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['route', 'method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });

  let counted = { at: 0, byState: new Map<string, number>() };
  new Gauge({
    name: 'polly_volumes', help: 'Volumes in the catalog by state (recounted at most every 15 s)', labelNames: ['state'], registers: [registry],
    async collect() {
      if (Date.now() - counted.at > COUNT_EVERY_MS) {
        const byState = new Map<string, number>(STATES.map((s) => [s, 0]));
        let after: string | undefined;
        do {
          const page = await polly.ctx.store.list<Volume>(keys.volumes, { limit: 10_000, ...(after ? { after } : {}) });
          for (const r of page.records) byState.set(r.value.status, (byState.get(r.value.status) ?? 0) + 1);
          after = page.next;
        } while (after);
        counted = { at: Date.now(), byState };
      }
      for (const [state, n] of counted.byState) this.set({ state }, n);
    },
  });
  const poolGauge = (name: string, help: string, pick: (p: ReturnType<Polly['listPools']>[number]) => number) =>
    new Gauge({
      name, help, labelNames: ['service', 'pool'], registers: [registry],
      collect() {
        for (const p of polly.listPools(ADMIN)) this.set({ service: p.service, pool: p.name }, pick(p));
      },
    });
  poolGauge('polly_pool_capacity_bytes', 'Usable bytes of a pool including overcommit', (p) => p.capacityBytes);
  poolGauge('polly_pool_provisioned_bytes', 'Bytes provisioned to volumes', (p) => p.provisionedBytes);
  poolGauge('polly_pool_reserved_bytes', 'Bytes reserved by volumes being created', (p) => p.reservedBytes);
  poolGauge('polly_pool_free_bytes', 'Bytes the backend reports free', (p) => p.freeBytes);

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    latency.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return registry;
}
