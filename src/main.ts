import { mkdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { buildAdminApi } from './api/admin/admin-api.js';
import { TokenAuth, isLoopback } from './api/admin/auth.js';
import { runCli, type ServerStartOptions } from './cli/main.js';
import { loadConfig } from './config/load-config.js';
import type { PollyConfig } from './config/polly-config.js';
import { createPlacementRegistry } from './core/placement/registry.js';
import { Polly } from './core/polly.js';
import { systemClock } from './core/ports/clock.js';
import type { StorageDriver } from './core/ports/storage-driver.js';
import { createDriver, createDriverRegistry } from './drivers/registry.js';
import { runLeaderLoops, RUNTIME_INTENT_AGE_MS } from './core/background-loops.js';
import type { Leadership } from './core/ports/leadership.js';
import { EtcdLeadership } from './store/etcd/etcd-leadership.js';
import { EtcdStore } from './store/etcd/etcd-store.js';
import { openStore } from './store/open-store.js';
import { runMigration } from './store/store-spec.js';
import { VERSION } from './version.js';

/**
 * Composition root: the only place that picks concrete implementations (store, drivers,
 * front doors) and wires them to core.
 */
export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv, undefined, { startServer, migrateStore: runMigration });
  if (code !== 0) process.exitCode = code;
}

export function configFor(opts: ServerStartOptions, env: NodeJS.ProcessEnv = process.env): PollyConfig {
  const placement = createPlacementRegistry();
  return loadConfig({
    ...(opts.config !== undefined ? { configFile: opts.config } : {}),
    env,
    flags: {
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
      ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
    },
    knownDrivers: [...createDriverRegistry().keys()],
    knownFilters: [...placement.filters.keys()],
    knownScorers: [...placement.scorers.keys()],
  });
}

/** Runs the server until SIGTERM/SIGINT. */
export async function startServer(opts: ServerStartOptions): Promise<void> {
  const config = configFor(opts);
  const logger = pino({ level: config.log.level, base: { node: config.server.nodeId } });
  for (const w of config.warnings) logger.warn({ config: config.source }, w);
  if (!isLoopback(config.server.host) && config.auth.tokens.length === 0) {
    throw new Error(`server.host ${config.server.host} is not a loopback address and auth.tokens is empty: configure tokens (auth.tokens or POLLY_ADMIN_TOKEN) before listening on the network`);
  }
  mkdirSync(config.server.dataDir, { recursive: true, mode: 0o750 });

  const store = openStore(config.store);
  const registry = createDriverRegistry();
  const drivers = new Map<string, StorageDriver>(config.services.map((s) => [s.name, createDriver(registry, s)]));
  const polly = await Polly.open({ store, services: config.services, drivers, placement: config.placement, clock: systemClock, logger });
  // One of several replicas (etcd): the elected leader runs the background loops (D41).
  let leadership: Leadership | undefined;
  if (store instanceof EtcdStore && config.store.type === 'etcd') {
    const candidate = `${config.server.nodeId}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`;
    leadership = new EtcdLeadership(store.client, store.coordinationPrefix, config.store.leaseTtlMs / 1000, candidate, logger);
    polly.leadership = leadership;
  } else {
    const startup = await polly.reconcile({ intentAgeMs: 0, quiescent: true, idempotencyTtlMs: config.reconcile.idempotencyTtlMs });
    logger.info({ finished: startup.finished.length, rolledBack: startup.rolledBack.length, unmanaged: startup.unmanaged.length }, 'start-up reconcile done');
  }

  const tls = config.server.tls;
  const app = await buildAdminApi({
    polly, auth: new TokenAuth(config.auth.tokens), version: VERSION, nodeId: config.server.nodeId,
    bodyLimitBytes: config.server.bodyLimitBytes, logger,
    ...(tls ? { https: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } } : {}),
  });
  await app.listen({ host: config.server.host, port: config.server.port });
  logger.info({ host: config.server.host, port: config.server.port, tls: Boolean(tls), dataDir: config.server.dataDir, config: config.source }, 'polly server listening');

  const loops = [setInterval(() => void polly.refreshCapacity(), 30_000)];
  if (leadership !== undefined) {
    leadership.start((signal) => runLeaderLoops(polly, {
      reconcileIntervalMs: config.reconcile.intervalMs, idempotencyTtlMs: config.reconcile.idempotencyTtlMs, intentAgeMs: RUNTIME_INTENT_AGE_MS, logger,
    }, signal));
  } else {
    loops.push(setInterval(() => {
      // Runtime passes leave young intents alone: their requests may still be running.
      void polly.reconcile({ intentAgeMs: RUNTIME_INTENT_AGE_MS, quiescent: false, idempotencyTtlMs: config.reconcile.idempotencyTtlMs })
        .catch((err: unknown) => logger.error({ err }, 'reconcile failed'));
    }, config.reconcile.intervalMs));
  }
  for (const t of loops) t.unref();

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: finishing in-flight requests');
      for (const t of loops) clearInterval(t);
      const force = setTimeout(() => {
        logger.warn('shutdown timeout: closing connections');
        app.server.closeAllConnections();
      }, config.server.shutdownTimeoutMs);
      force.unref();
      app.close()
        .then(() => leadership?.close())
        .then(() => polly.close())
        .then(() => store.close())
        .catch((err: unknown) => logger.error({ err }, 'error during shutdown'))
        .finally(() => {
          clearTimeout(force);
          logger.info('stopped');
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
