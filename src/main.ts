import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { AgentRuntime } from './agent/agent-runtime.js';
import { ChannelServer } from './agent/channel-server.js';
import { startInProcessAgent } from './agent/in-process-agent.js';
import { WsAgent } from './agent/ws-agent.js';
import type { AgentStartOptions } from './cli/app.js';
import { loadAgentConfig } from './config/agent-config.js';
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
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import { VERSION } from './version.js';

/**
 * Composition root: the only place that picks concrete implementations (store, drivers,
 * front doors) and wires them to core.
 */
export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv, undefined, { startServer, startAgent });
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

  const store = SqliteStore.open(config.store.path);
  const registry = createDriverRegistry();
  const drivers = new Map<string, StorageDriver>(config.services.map((s) => [s.name, createDriver(registry, s)]));
  const channel = new ChannelServer({
    tokens: config.nodes.tokens.map((t) => t.token), openLoopback: config.auth.tokens.length === 0, services: () => config.services, logger,
  });
  const polly = await Polly.open({ store, services: config.services, drivers, placement: config.placement, clock: systemClock, logger,
    ...(config.server.inProcessAgent ? { nodeId: config.server.nodeId } : {}),
    nodeChannel: channel, nodes: { leaseMs: config.nodes.leaseMs, graceMs: config.nodes.graceMs, operationTimeoutMs: config.nodes.operationTimeoutMs } });
  channel.bind(polly.nodes);
  const startup = await polly.reconcile({ intentAgeMs: 0, quiescent: true, idempotencyTtlMs: config.reconcile.idempotencyTtlMs });
  logger.info({ finished: startup.finished.length, rolledBack: startup.rolledBack.length, unmanaged: startup.unmanaged.length }, 'start-up reconcile done');

  const tls = config.server.tls;
  const app = await buildAdminApi({
    polly, auth: new TokenAuth(config.auth.tokens), version: VERSION, nodeId: config.server.nodeId,
    bodyLimitBytes: config.server.bodyLimitBytes, logger,
    ...(tls ? { https: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } } : {}),
  });
  channel.attach(app.server);
  const localAgent = config.server.inProcessAgent
    ? startInProcessAgent(channel, {
      nodeId: config.server.nodeId, labels: {}, pools: [], devices: [], mountDir: join(config.server.dataDir, 'mounts'), version: VERSION,
      makeDriver: (spec) => createDriver(registry, spec), logger: logger.child({ agent: config.server.nodeId }),
    })
    : undefined;
  await app.listen({ host: config.server.host, port: config.server.port });
  logger.info({ host: config.server.host, port: config.server.port, tls: Boolean(tls), dataDir: config.server.dataDir, config: config.source }, 'polly server listening');

  const loops = [
    setInterval(() => void polly.refreshCapacity(), 30_000),
    setInterval(() => {
      void polly.nodes.checkLeases().catch((err: unknown) => logger.error({ err }, 'lease check failed'));
    }, Math.max(100, Math.floor(config.nodes.leaseMs / 10))),
    setInterval(() => {
      // Runtime passes leave young intents alone: their requests may still be running.
      void polly.reconcile({ intentAgeMs: 15 * 60_000, quiescent: false, idempotencyTtlMs: config.reconcile.idempotencyTtlMs })
        .catch((err: unknown) => logger.error({ err }, 'reconcile failed'));
    }, config.reconcile.intervalMs),
  ];
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
      channel.close();
      app.close()
        .then(() => localAgent?.stop())
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

/** Runs a node agent until SIGTERM/SIGINT: dials the server and keeps dialling. */
export async function startAgent(opts: AgentStartOptions): Promise<void> {
  const config = loadAgentConfig({
    ...(opts.config !== undefined ? { config: opts.config } : {}), ...(opts.server !== undefined ? { server: opts.server } : {}),
    ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {}), ...(opts.labels !== undefined ? { labels: opts.labels } : {}),
    ...(opts.mountDir !== undefined ? { mountDir: opts.mountDir } : {}), ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
  });
  const logger = pino({ level: config.logLevel, base: { node: config.nodeId, role: 'agent' } });
  mkdirSync(config.mountDir, { recursive: true, mode: 0o750 });
  const registry = createDriverRegistry();
  const runtime = new AgentRuntime({
    nodeId: config.nodeId, labels: config.labels, pools: config.pools, devices: config.devices, mountDir: config.mountDir,
    version: VERSION, inProcess: false, selfFence: true, makeDriver: (spec) => createDriver(registry, spec), logger,
  });
  const agent = new WsAgent(runtime, { server: config.server, ...(config.token !== undefined ? { token: config.token } : {}), logger });
  agent.start();
  logger.info({ server: config.server, mountDir: config.mountDir, pools: config.pools.map((p) => `${p.service}/${p.name}`), config: config.source }, 'polly agent started');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'agent stopping (mounts stay; the next start reconciles them)');
      void agent.stop().finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
