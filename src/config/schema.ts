import { Type, type Static } from '@sinclair/typebox';
import { HOST_PORT_ACCEPTED } from './parse-host-port.js';
import { DURATION_ACCEPTED } from './parse-duration.js';
import { LOG_LEVELS } from './polly-config.js';

/**
 * The schema of Polly's own configuration layout (see docs/configuration.md). Every mapping is
 * closed (`additionalProperties: false`) so a misspelt key is an error, with two deliberate
 * exceptions: `services.<name>.options` (the driver's settings) and the extra keys of a pool
 * (driver-specific pool parameters). Values whose syntax TypeBox cannot express (sizes, durations,
 * names, addresses) are checked after the schema, in normalize-config.ts.
 *
 * `x-accepted` annotates a value with the words an error message uses for "accepted: …";
 * `x-secret` marks a value that error messages never echo.
 */

export const SIZE_ACCEPTED = 'a positive size such as 512Mi, 10Gi, 1.5Ti (units B, K, M, G, T, Ki, Mi, Gi, Ti) or a bare number of GiB';
export const NAME_ACCEPTED = '1-128 letters, digits, ".", "_" and "-", starting with a letter or digit, without ".."';
export const TOKEN_ACCEPTED = 'at least 16 (at most 4096) printable ASCII characters without spaces';
export const STORE_TYPE_ACCEPTED = 'sqlite (one machine) or etcd (several replicas)';
export const ETCD_ENDPOINTS_ACCEPTED = 'etcd client URLs such as http://10.0.0.1:2379 or https://etcd-1:2379 (a list, or one string with commas)';

const strict = <T extends Parameters<typeof Type.Object>[0]>(properties: T, accepted?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(accepted === undefined ? {} : { 'x-accepted': accepted }) });

const text = (accepted: string, options: Record<string, unknown> = {}) => Type.String({ 'x-accepted': accepted, ...options });

const name = () => text(NAME_ACCEPTED);

const stringEnum = <T extends string>(values: readonly T[], accepted?: string) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...(accepted === undefined ? {} : { 'x-accepted': accepted }) });

const size = () => Type.Unsafe<string | number>({ type: ['string', 'number'], 'x-accepted': SIZE_ACCEPTED });

const duration = () => Type.Unsafe<string | number>({ type: ['string', 'number'], 'x-accepted': DURATION_ACCEPTED });

const names = () => Type.Array(name(), { 'x-accepted': `a list of names (${NAME_ACCEPTED})` });

const labels = () =>
  Type.Record(Type.String(), Type.String({ 'x-accepted': 'a string (quote values such as true or 10)' }), {
    'x-accepted': 'a mapping of label keys to string values',
  });

export const TlsSchema = strict(
  {
    cert: text('the path of a PEM certificate file', { minLength: 1 }),
    key: text('the path of a PEM private key file', { minLength: 1 }),
  },
  'a mapping with both cert and key (or no tls at all)',
);

export const ServerSchema = strict({
  host: Type.Optional(text(HOST_PORT_ACCEPTED)),
  dataDir: Type.Optional(text('a directory path (relative paths resolve against the working directory)', { minLength: 1 })),
  tls: Type.Optional(TlsSchema),
  shutdownTimeout: Type.Optional(duration()),
  bodyLimit: Type.Optional(size()),
  inProcessAgent: Type.Optional(Type.Boolean()),
  nodeId: Type.Optional(name()),
});

export const StoreSchema = strict({
  type: Type.Optional(stringEnum(['sqlite', 'etcd'], STORE_TYPE_ACCEPTED)),
  path: Type.Optional(text('a file path (relative paths resolve against server.dataDir)', { minLength: 1 })),
  // etcd only (see docs/configuration.md):
  endpoints: Type.Optional(Type.Unsafe<string | string[]>({ type: ['array', 'string'], items: { type: 'string' }, 'x-accepted': ETCD_ENDPOINTS_ACCEPTED })),
  prefix: Type.Optional(text('a key prefix ending with "/", such as /polly/ (1-256 printable characters)', { minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]*/$' })),
  tls: Type.Optional(strict({
    ca: Type.Optional(text('the path of a PEM CA certificate file', { minLength: 1 })),
    cert: Type.Optional(text('the path of a PEM client certificate file', { minLength: 1 })),
    key: Type.Optional(text('the path of a PEM client private key file', { minLength: 1 })),
  }, 'a mapping with ca and/or cert and key')),
  auth: Type.Optional(strict({
    username: text('an etcd user name', { minLength: 1 }),
    password: text('the etcd user\'s password', { minLength: 1, 'x-secret': true }),
  }, 'a mapping with username and password')),
  timeout: Type.Optional(duration()),
  leaseTtl: Type.Optional(duration()),
  maxTxnOps: Type.Optional(Type.Integer({ minimum: 16, maximum: 1_000_000, 'x-accepted': "the etcd cluster's --max-txn-ops (16 or more; etcd's default is 128)" })),
});

export const LogSchema = strict({
  level: Type.Optional(stringEnum(LOG_LEVELS)),
});

export const TokenSchema = strict({
  name: name(),
  token: text(TOKEN_ACCEPTED, { minLength: 16, maxLength: 4096, pattern: '^[\\x21-\\x7e]+$', 'x-secret': true }),
  role: stringEnum(['admin', 'scheduler'] as const),
  services: Type.Optional(
    Type.Unsafe<string | string[]>({
      type: ['array', 'string'],
      items: { type: 'string' },
      'x-accepted': '"*" (every service) or a list of service names',
    }),
  ),
});

export const AuthSchema = strict({
  tokens: Type.Optional(Type.Array(TokenSchema, { 'x-accepted': 'a list of tokens, each with name, token and role' })),
});

export const PlacementSchema = strict({
  filters: Type.Optional(names()),
  scorers: Type.Optional(
    Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: 100 }), { 'x-accepted': 'a mapping of scorer names to weights (0-100)' }),
  ),
  minFeasiblePools: Type.Optional(Type.Integer({ minimum: 1 })),
  feasiblePercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
});

export const ReconcileSchema = strict({
  interval: Type.Optional(duration()),
  idempotencyTtl: Type.Optional(duration()),
});

export const ClaimsSchema = strict({
  defaultTtl: Type.Optional(duration()),
  maxTtl: Type.Optional(duration()),
  expireInterval: Type.Optional(duration()),
});

export const NodesSchema = strict({
  lease: Type.Optional(duration()),
  grace: Type.Optional(duration()),
  operationTimeout: Type.Optional(duration()),
  tokens: Type.Optional(Type.Array(strict({
    name: name(),
    token: text(TOKEN_ACCEPTED, { minLength: 16, maxLength: 4096, pattern: '^[\\x21-\\x7e]+$', 'x-secret': true }),
    /** The node ids the token may register as (default: any). */
    nodes: Type.Optional(names()),
  }), { 'x-accepted': 'a list of node tokens, each with name, token and optionally nodes' })),
});

export const LibstorageServiceSchema = strict({
  service: Type.Optional(name()),
  driver: Type.Optional(name()),
  type: Type.Optional(stringEnum(['object', 'block', 'nas'] as const)),
  jwtSecret: Type.Optional(text('an HS256 secret of at least 16 characters', { minLength: 16, maxLength: 4096, 'x-secret': true })),
});

export const LibstorageSchema = strict({
  host: Type.Optional(text('tcp://host:port, host:port or unix:///absolute/path.sock')),
  enabled: Type.Optional(Type.Boolean()),
  tls: Type.Optional(TlsSchema),
  services: Type.Optional(
    Type.Record(Type.String(), LibstorageServiceSchema, { 'x-accepted': 'a mapping of libStorage service names to { service, driver, type, jwtSecret }' }),
  ),
});

export const OsbSchema = strict({
  host: Type.Optional(text(HOST_PORT_ACCEPTED)),
  username: Type.Optional(text('a user name of 1-128 printable characters without ":"', { minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x39\\x3b-\\x7e]+$' })),
  password: Type.Optional(text('a password of 16-4096 printable ASCII characters', { minLength: 16, maxLength: 4096, pattern: '^[\\x21-\\x7e]+$', 'x-secret': true })),
  identity: Type.Optional(name()),
});

export const DockerSchema = strict({
  enabled: Type.Optional(Type.Boolean()),
  socket: Type.Optional(text('an absolute path for the plugin socket (relative paths resolve against server.dataDir)', { minLength: 1 })),
  host: Type.Optional(text(HOST_PORT_ACCEPTED)),
  specFile: Type.Optional(text('a file path for the plugin spec file', { minLength: 1 })),
  service: Type.Optional(name()),
  mountRoot: Type.Optional(text('a directory path (relative paths resolve against server.dataDir)', { minLength: 1 })),
});

export const CSI_SERVICES = ['identity', 'controller', 'node'] as const;
export const CSI_ENDPOINT_ACCEPTED = 'unix:///absolute/path.sock, a relative unix://name.sock (resolved against server.dataDir), tcp://host:port or host:port';

const csiServices = () =>
  Type.Array(stringEnum(CSI_SERVICES), { minItems: 1, 'x-accepted': 'a list of identity, controller and node' });

export const CsiEndpointSchema = strict(
  { endpoint: text(CSI_ENDPOINT_ACCEPTED), services: Type.Optional(csiServices()) },
  'a mapping with endpoint and services',
);

export const CsiSchema = strict({
  enabled: Type.Optional(Type.Boolean()),
  endpoint: Type.Optional(text(CSI_ENDPOINT_ACCEPTED)),
  services: Type.Optional(csiServices()),
  endpoints: Type.Optional(Type.Array(CsiEndpointSchema, { 'x-accepted': 'a list of further endpoints, each with endpoint and services' })),
  pluginName: Type.Optional(text('a domain name of at most 63 characters, such as csi.polly.io')),
  defaultService: Type.Optional(name()),
  caller: Type.Optional(name()),
  nodes: Type.Optional(names()),
  maxVolumesPerNode: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** The keys a pool understands itself; any other key is a driver parameter (PoolSpec.params). */
export const POOL_KEYS = ['name', 'path', 'capacity', 'overcommit', 'zone', 'node', 'types', 'labels', 'maxIops'] as const;

export const PoolSchema = Type.Object(
  {
    name: name(),
    path: Type.Optional(text('a directory path (relative paths resolve against server.dataDir)', { minLength: 1 })),
    capacity: Type.Optional(size()),
    overcommit: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, 'x-accepted': 'a number above 0 and at most 100 (1 = no overcommit)' })),
    zone: Type.Optional(name()),
    node: Type.Optional(name()),
    types: Type.Optional(names()),
    labels: Type.Optional(labels()),
    maxIops: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: true, 'x-accepted': 'a mapping with at least name' },
);

export const ServiceSchema = strict({
  driver: text('the name of a storage driver'),
  description: Type.Optional(Type.String()),
  defaults: Type.Optional(strict({ size: Type.Optional(size()), type: Type.Optional(name()) })),
  quota: Type.Optional(strict({ maxVolumes: Type.Optional(Type.Integer({ minimum: 0 })), maxBytes: Type.Optional(size()) })),
  options: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { 'x-accepted': "a mapping of the driver's settings" })),
  pools: Type.Optional(Type.Array(PoolSchema, { minItems: 1, 'x-accepted': 'a list of at least one pool' })),
});

export const PollyFileSchema = strict({
  server: Type.Optional(ServerSchema),
  store: Type.Optional(StoreSchema),
  log: Type.Optional(LogSchema),
  auth: Type.Optional(AuthSchema),
  placement: Type.Optional(PlacementSchema),
  reconcile: Type.Optional(ReconcileSchema),
  claims: Type.Optional(ClaimsSchema),
  nodes: Type.Optional(NodesSchema),
  libstorage: Type.Optional(LibstorageSchema),
  osb: Type.Optional(OsbSchema),
  docker: Type.Optional(DockerSchema),
  csi: Type.Optional(CsiSchema),
  services: Type.Optional(
    Type.Record(Type.String(), ServiceSchema, { minProperties: 1, 'x-accepted': 'a mapping of service names to services (at least one)' }),
  ),
});

/** Polly's own layout as it stands after schema validation (before defaults and semantic checks). */
export type PollyFile = Static<typeof PollyFileSchema>;
export type ServiceEntry = Static<typeof ServiceSchema>;
export type PoolEntry = Static<typeof PoolSchema>;
export type LibstorageServiceEntry = Static<typeof LibstorageServiceSchema>;

/** The top-level keys of Polly's own layout. */
export const OWN_TOP_KEYS: readonly string[] = Object.keys(PollyFileSchema.properties);

