import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { AgentRuntime } from './agent/agent-runtime.js';
import { ChannelServer } from './agent/channel-server.js';
import { startInProcessAgent } from './agent/in-process-agent.js';
import { WsAgent } from './agent/ws-agent.js';
import type { AgentStartOptions } from './cli/app.js';
import { loadAgentConfig } from './config/agent-config.js';
import { buildAdminApi } from './api/admin/admin-api.js';
import { csiDeps } from './api/csi/csi-deps.js';
import { startCsi } from './api/csi/csi-server.js';
import { nodeService } from './api/csi/node-service.js';
import { TokenAuth, isLoopback } from './api/admin/auth.js';
import type { CliHooks, ServerStartOptions } from './cli/main.js';
import { loadConfig } from './config/load-config.js';
import type { PollyConfig } from './config/polly-config.js';
import { createPlacementRegistry } from './core/placement/registry.js';
import { ADMIN } from './core/model.js';
import { Polly } from './core/polly.js';
import { systemClock } from './core/ports/clock.js';
import type { StorageDriver } from './core/ports/storage-driver.js';
import { createDriver, createDriverRegistry } from './drivers/registry.js';
import { buildLibstorageApi } from './api/libstorage/libstorage-api.js';
import { buildOsbApi, osbPlugin } from './api/osb/osb-api.js';
import { toOsbError } from './api/osb/error-map.js';
import { buildDockerPlugin } from './api/docker/docker-plugin.js';
import { DockerNodeCalls } from './api/docker/docker-node-calls.js';
import { buildDockerRelay } from './api/docker/docker-relay.js';
import { FenceGuardLink } from './agent/fence-guard.js';
import type { FastifyInstance } from 'fastify';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import { runLeaderLoops, RUNTIME_INTENT_AGE_MS } from './core/background-loops.js';
import type { Leadership } from './core/ports/leadership.js';
import { EtcdLeadership } from './store/etcd/etcd-leadership.js';
import { EtcdStore } from './store/etcd/etcd-store.js';
import { openStore } from './store/open-store.js';
import { runMigration } from './store/store-spec.js';
import { VERSION } from './version.js';

/**
 * Composition root: the only place that picks concrete implementations (store, drivers,
 * front doors) and wires them to core. The `polly` command (polly-command.ts) loads it for the
 * commands that run Polly itself.
 */
export const hooks: Required<CliHooks> = { startServer, startAgent, migrateStore: runMigration };

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
  const channel = new ChannelServer({
    tokens: config.nodes.tokens, openLoopback: config.auth.tokens.length === 0, services: () => config.services, logger,
  });
  // One of several replicas (etcd): named, so its intents name it (D48).
  const replica = config.store.type === 'etcd' ? `${config.server.nodeId}/${process.pid}/${Math.random().toString(36).slice(2, 8)}` : undefined;
  const polly = await Polly.open({
    store, services: config.services, drivers, placement: config.placement, clock: systemClock, logger,
    ...(config.server.inProcessAgent ? { nodeId: config.server.nodeId } : {}),
    ...(replica !== undefined ? { replica } : {}),
    claims: { defaultTtlMs: config.claims.defaultTtlMs, maxTtlMs: config.claims.maxTtlMs },
    nodeChannel: channel, nodes: { leaseMs: config.nodes.leaseMs, graceMs: config.nodes.graceMs, operationTimeoutMs: config.nodes.operationTimeoutMs },
  });
  channel.bind(polly.nodes);
  if (config.docker.enabled) {
    // The Docker plugin of nodes with their own agent: the agents relay their Docker's calls (D80).
    const dockerNodes = new DockerNodeCalls({ polly, defaultService: config.docker.service, logger });
    channel.serveCalls('docker', (nodeId, method, body) => dockerNodes.answer(nodeId, method, body),
      (nodeId, method, body, answer) => dockerNodes.abandoned(nodeId, method, body, answer));
  }
  const leaseCheckMs = Math.max(100, Math.floor(config.nodes.leaseMs / 10));
  // The elected leader runs the background loops (D41); campaigning starts before the replica
  // serves, so it counts as alive before it writes anything. The start-up repairs below assume
  // nothing else is running, which only holds for a lone server.
  let leadership: Leadership | undefined;
  if (store instanceof EtcdStore && replica !== undefined && config.store.type === 'etcd') {
    const l = new EtcdLeadership(store.client, store.coordinationPrefix, config.store.leaseTtlMs / 1000, replica, logger);
    leadership = l;
    polly.leadership = l;
    l.start((signal) => runLeaderLoops(polly, {
      reconcileIntervalMs: config.reconcile.intervalMs, idempotencyTtlMs: config.reconcile.idempotencyTtlMs, intentAgeMs: RUNTIME_INTENT_AGE_MS, logger,
      liveReplicas: () => l.liveReplicas(),
      also: [
        { what: 'releasing expired claims', everyMs: config.claims.expireIntervalMs, run: () => polly.expireClaims() },
        { what: 'checking node leases', everyMs: leaseCheckMs, run: () => polly.nodes.checkLeases() },
      ],
    }, signal));
  } else {
    const startup = await polly.reconcile({ intentAgeMs: 0, quiescent: true, idempotencyTtlMs: config.reconcile.idempotencyTtlMs });
    logger.info({ finished: startup.finished.length, rolledBack: startup.rolledBack.length, unmanaged: startup.unmanaged.length }, 'start-up reconcile done');
  }
  if (config.server.inProcessAgent) {
    // The in-process agent's view of this node, rebuilt from the kernel: reported, never unmounted.
    await polly.reconcileNodeVolumes(ADMIN).then(
      (node) => {
        for (const v of node.unknown) logger.warn({ node: v }, 'mounted or attached on this node, but no Polly volume has this backend');
        for (const v of node.notAttachedHere) logger.warn({ node: v }, 'mounted or attached on this node, but the catalog has no attachment of it here');
      },
      (err: unknown) => logger.error({ err }, 'reading the volumes of this node failed'),
    );
  }
  if (leadership === undefined) {
    const interrupted = await polly.failInterruptedInstances();
    if (interrupted > 0) logger.warn({ interrupted }, 'service instance operations interrupted by the restart marked failed');
  }

  const tls = config.server.tls;
  const app = await buildAdminApi({
    polly, auth: new TokenAuth(config.auth.tokens), version: VERSION, nodeId: config.server.nodeId,
    bodyLimitBytes: config.server.bodyLimitBytes, logger,
    ...(tls ? { https: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } } : {}),
    ...(config.osb && !config.osb.listen ? { mounts: [{ prefix: '/v2', plugin: osbPlugin({ polly, ...config.osb }), toError: toOsbError }] } : {}),
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
  const doors = await startFrontDoors(config, polly, logger);

  const csiConfig = config.csi;
  const csi = csiConfig.enabled
    ? await startCsi(csiDeps(polly, {
      ...(csiConfig.caller ? { caller: csiConfig.caller.role === 'admin' ? { kind: 'admin', name: csiConfig.caller.name } : { kind: 'scheduler', ...csiConfig.caller } } : {}),
      pluginName: csiConfig.pluginName, version: VERSION, nodeId: config.server.nodeId, nodes: csiConfig.nodes,
      maxVolumesPerNode: csiConfig.maxVolumesPerNode, defaultService: csiConfig.defaultService, logger,
    }), csiConfig.endpoints, config.server.inProcessAgent ? nodeService : undefined)
    : undefined;

  const loops = [setInterval(() => void polly.refreshCapacity(), 30_000)];
  if (leadership === undefined) {
    loops.push(setInterval(() => {
      void polly.nodes.checkLeases().catch((err: unknown) => logger.error({ err }, 'lease check failed'));
    }, leaseCheckMs));
    loops.push(setInterval(() => {
      // Runtime passes leave young intents alone: their requests may still be running.
      void polly.reconcile({ intentAgeMs: RUNTIME_INTENT_AGE_MS, quiescent: false, idempotencyTtlMs: config.reconcile.idempotencyTtlMs })
        .catch((err: unknown) => logger.error({ err }, 'reconcile failed'));
    }, config.reconcile.intervalMs));
    loops.push(setInterval(() => {
      void polly.expireClaims().catch((err: unknown) => logger.error({ err }, 'releasing expired claims failed'));
    }, config.claims.expireIntervalMs));
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
        for (const d of doors) d.server.closeAllConnections();
      }, config.server.shutdownTimeoutMs);
      force.unref();
      channel.close();
      // Requests in flight finish (up to the timeout above); idle keep-alive connections go now.
      for (const d of doors) d.server.closeIdleConnections();
      Promise.all([app.close(), csi?.close(config.server.shutdownTimeoutMs), ...doors.map((d) => d.close())])
        .then(() => localAgent?.stop())
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

/** Runs a node agent until SIGTERM/SIGINT: dials the server and keeps dialling. */
export async function startAgent(opts: AgentStartOptions): Promise<void> {
  const config = loadAgentConfig({
    ...(opts.config !== undefined ? { config: opts.config } : {}), ...(opts.server !== undefined ? { server: opts.server } : {}),
    ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {}), ...(opts.labels !== undefined ? { labels: opts.labels } : {}),
    ...(opts.mountDir !== undefined ? { mountDir: opts.mountDir } : {}), ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
    ...(opts.dockerSocket !== undefined ? { dockerSocket: opts.dockerSocket } : {}),
  });
  const logger = pino({ level: config.logLevel, base: { node: config.nodeId, role: 'agent' } });
  mkdirSync(config.mountDir, { recursive: true, mode: 0o750 });
  const registry = createDriverRegistry();
  // The fence guard outlives the agent and gives the node's volumes up at the lease deadline (D82);
  // without it the agent self-fences (which a SIGKILL prevents).
  const guard = config.fenceGuard ? new FenceGuardLink(config.mountDir, logger) : undefined;
  guard?.start();
  const runtime = new AgentRuntime({
    nodeId: config.nodeId, labels: config.labels, pools: config.pools, devices: config.devices, mountDir: config.mountDir,
    version: VERSION, inProcess: false, selfFence: guard === undefined, makeDriver: (spec) => createDriver(registry, spec), logger,
    ...(guard ? { onLease: (deadline: number) => guard.lease(deadline) } : {}),
  });
  const agent = new WsAgent(runtime, { server: config.server, ...(config.token !== undefined ? { token: config.token } : {}), logger });
  agent.start();
  logger.info({ server: config.server, mountDir: config.mountDir, pools: config.pools.map((p) => `${p.service}/${p.name}`), config: config.source }, 'polly agent started');
  let plugin: FastifyInstance | undefined;
  if (config.docker) {
    // This node's Docker volume plugin: its calls are relayed to the server over the channel (D80).
    const { socket, specFile } = config.docker;
    plugin = await buildDockerRelay({
      forward: (method, body) => runtime.call('docker', method, body), logger,
      ...(specFile ? { onClose: () => rmSync(specFile, { force: true }) } : {}),
    });
    await listenOn(plugin, { kind: 'unix', path: socket });
    if (specFile) {
      mkdirSync(dirname(specFile), { recursive: true, mode: 0o755 });
      writeFileSync(specFile, `unix://${socket}\n`, { mode: 0o644 });
    }
    logger.info({ socket, ...(specFile ? { specFile } : {}) }, 'docker plugin listening');
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'agent stopping (mounts stay; the next start reconciles them)');
      void Promise.resolve(plugin?.close()).then(() => agent.stop()).finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** A unix socket path may hold a stale socket from a crashed run; anything else there is refused. */
function clearStaleSocket(path: string): void {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  unlinkSync(path);
}

async function listenOn(app: FastifyInstance, where: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string }): Promise<Record<string, unknown>> {
  if (where.kind === 'unix') {
    mkdirSync(dirname(where.path), { recursive: true, mode: 0o755 });
    clearStaleSocket(where.path);
    await app.listen({ path: where.path });
    return { socket: where.path };
  }
  await app.listen({ host: where.host, port: where.port });
  const addr = app.server.address();
  return { host: where.host, port: typeof addr === 'object' && addr !== null ? addr.port : where.port };
}

/** The protocol front doors on listeners of their own (libStorage, OSB on its own port). */
async function startFrontDoors(config: PollyConfig, polly: Polly, logger: Logger): Promise<FastifyInstance[]> {
  const doors: FastifyInstance[] = [];
  try {
    const ls = config.libstorage;
    if (ls.listen) {
      const app = await buildLibstorageApi({
        polly, services: ls.services, serverName: config.server.nodeId, bodyLimitBytes: config.server.bodyLimitBytes, logger,
        ...(ls.tls ? { https: { cert: readFileSync(ls.tls.cert), key: readFileSync(ls.tls.key) } } : {}),
      });
      doors.push(app);
      logger.info({ ...(await listenOn(app, ls.listen)), tls: Boolean(ls.tls), services: ls.services.map((s) => s.name) }, 'libstorage listening');
    }
    const docker = config.docker;
    if (docker.enabled && config.server.inProcessAgent) {
      const plugin = { polly, nodeId: config.server.nodeId, mountRoot: docker.mountRoot, defaultService: docker.service, logger };
      const app = await buildDockerPlugin(plugin);
      doors.push(app);
      logger.info({ ...(await listenOn(app, { kind: 'unix', path: docker.socket })) }, 'docker plugin listening');
      if (docker.tcp) {
        const specFile = docker.specFile;
        const tcp = await buildDockerPlugin({ ...plugin, ...(specFile ? { onClose: () => rmSync(specFile, { force: true }) } : {}) });
        doors.push(tcp);
        const where = await listenOn(tcp, { kind: 'tcp', ...docker.tcp });
        if (specFile) {
          mkdirSync(dirname(specFile), { recursive: true, mode: 0o755 });
          writeFileSync(specFile, `tcp://${docker.tcp.host}:${String(where['port'])}\n`, { mode: 0o644 });
        }
        logger.info({ ...where, specFile: docker.specFile }, 'docker plugin listening on tcp');
      }
    } else if (docker.enabled) {
      logger.warn('docker plugin not served: server.inProcessAgent is off (the node agent serves it)');
    }
    if (config.osb?.listen) {
      const app = await buildOsbApi({ polly, ...config.osb, bodyLimitBytes: config.server.bodyLimitBytes, logger });
      doors.push(app);
      logger.info({ ...(await listenOn(app, { kind: 'tcp', ...config.osb.listen })) }, 'osb listening');
    } else if (config.osb) {
      logger.info({ port: config.server.port }, 'osb listening on the admin listener under /v2');
    }
  } catch (e) {
    await Promise.all(doors.map((d) => d.close()));
    throw e;
  }
  return doors;
}
