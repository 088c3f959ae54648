/** Every default of Polly's configuration, in one place (docs/configuration.md lists them). */
export const CONFIG_DEFAULTS = {
  host: '127.0.0.1:7978',
  dataDir: './polly-data',
  shutdownTimeout: '10s',
  bodyLimit: '1Mi',
  inProcessAgent: true,
  storeType: 'sqlite',
  storeFile: 'polly.db',
  etcdPrefix: '/polly/',
  etcdTimeout: '5s',
  etcdLeaseTtl: '2s',
  etcdMaxTxnOps: 128,
  logLevel: 'info',
  minFeasiblePools: 100,
  feasiblePercent: 5,
  reconcileInterval: '30s',
  idempotencyTtl: '24h',
  claimDefaultTtl: '5m',
  claimMaxTtl: '1h',
  claimExpireInterval: '5s',
  nodeLease: '10s',
  nodeGrace: '5s',
  nodeOperationTimeout: '60s',
  serviceName: 'default',
  serviceDriver: 'dir',
  defaultSize: '1Gi',
  poolName: 'local',
  overcommit: 1,
  maxIops: 0,
  scorerWeight: 1,
  libstorageHost: '127.0.0.1:7981',
} as const;

/** Bounds of server.bodyLimit. */
export const BODY_LIMIT_MIN = 1024;
export const BODY_LIMIT_MAX = 1024 ** 3;
