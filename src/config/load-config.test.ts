import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { GiB, MiB, TiB } from '../core/units.js';
import { FILTERS, SCORERS, sandbox, yaml } from './test-kit.js';

const box = sandbox();
after(() => box.cleanup());

describe('loadConfig: defaults', () => {
  test('no file at all gives the documented defaults', () => {
    const c = box.load();
    assert.equal(c.source, 'defaults');
    assert.deepEqual(c.server, {
      host: '127.0.0.1',
      port: 7978,
      dataDir: resolve('polly-data'),
      shutdownTimeoutMs: 10_000,
      bodyLimitBytes: MiB,
      inProcessAgent: true,
      nodeId: hostname(),
    });
    assert.deepEqual(c.store, { type: 'sqlite', path: resolve('polly-data', 'polly.db') });
    assert.deepEqual(c.log, { level: 'info' });
    assert.deepEqual(c.auth, { tokens: [] });
    assert.deepEqual(c.placement, { filters: [...FILTERS], scorers: { 'least-allocated': 1, 'zone-spread': 1 }, minFeasiblePools: 100, feasiblePercent: 5 });
    assert.deepEqual(c.reconcile, { intervalMs: 30_000, idempotencyTtlMs: 86_400_000 });
    assert.deepEqual(c.claims, { defaultTtlMs: 300_000, maxTtlMs: 3_600_000, expireIntervalMs: 5_000 });
    assert.deepEqual(c.libstorage, {
      listen: { kind: 'tcp', host: '127.0.0.1', port: 7981 },
      services: [{ name: 'default', service: 'default', driverName: 'vfs', driverType: 'object' }],
      raw: {},
    });
    assert.equal(c.osb, undefined, 'no broker without credentials');
    assert.deepEqual(c.docker, {
      enabled: true, socket: resolve('polly-data', 'plugins', 'polly.sock'), service: 'default', mountRoot: resolve('polly-data', 'mounts'),
    });
    assert.deepEqual(c.services, [
      {
        name: 'default',
        driver: 'dir',
        defaultSizeBytes: GiB,
        quota: {},
        driverConfig: {},
        pools: [{ name: 'local', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: resolve('polly-data', 'pools', 'default', 'local') } }],
      },
    ]);
    assert.deepEqual(c.warnings, []);
  });

  test('an existing defaultConfigFile is read; an explicit configFile wins over it', () => {
    const dflt = box.write('default.yml', 'log: { level: debug }\n');
    const explicit = box.write('explicit.yml', 'log: { level: warn }\n');
    assert.equal(box.load({ defaultConfigFile: dflt }).log.level, 'debug');
    assert.equal(box.load({ defaultConfigFile: dflt }).source, dflt);
    assert.equal(box.load({ defaultConfigFile: dflt, configFile: explicit }).log.level, 'warn');
  });

  test('an empty file and empty values mean defaults', () => {
    assert.equal(box.load({ configFile: box.write('empty.yml', '') }).server.port, 7978);
    const c = box.load({ configFile: box.write('nulls.yml', 'server:\n  host:\n  tls:\nlog:\nservices:\n  s:\n    driver: dir\n    options:\n    pools:\n') });
    assert.equal(c.server.port, 7978);
    assert.equal(c.server.tls, undefined);
    assert.deepEqual(c.services.map((s) => [s.name, s.pools.map((p) => p.name)]), [['s', ['local']]]);
  });
});

describe('loadConfig: Polly layout', () => {
  test('the full example is read into the runtime shape', () => {
    const cert = box.write('server.crt', 'CERT');
    const key = box.write('server.key', 'KEY');
    const dataDir = join(box.dir, 'data');
    const file = box.write(
      'full.yml',
      yaml(`
        server:
          host: https://0.0.0.0:8443
          dataDir: ${dataDir}
          tls: { cert: ${cert}, key: ${key} }
          shutdownTimeout: 500ms
          bodyLimit: 2Mi
          inProcessAgent: false
          nodeId: n1
        store: { type: sqlite, path: catalog.db }
        log: { level: debug }
        auth:
          tokens:
            - { name: ops, token: "0123456789abcdef-ops", role: admin }
            - { name: kubernetes-prod, token: "0123456789abcdef-k8s", role: scheduler, services: [default] }
            - { name: nomad, token: "0123456789abcdef-nomad", role: scheduler }
        placement:
          filters: [capacity, service]
          scorers: { least-allocated: 3, zone-spread: 0 }
          minFeasiblePools: 10
          feasiblePercent: 50
        reconcile: { interval: 1m, idempotencyTtl: 2h }
        libstorage: { host: "tcp://127.0.0.1:7981" }
        services:
          default:
            driver: dir
            description: "local directories"
            defaults: { size: 2Gi, type: standard }
            quota: { maxVolumes: 1000, maxBytes: 10Ti }
            options: { fsync: true, nested: { a: 1 } }
            pools:
              - name: local
                capacity: 100Gi
                overcommit: 1.5
                zone: a
                node: n1
                labels: { tier: fast, example.com/disk: ssd }
                maxIops: 3000
                blockSize: 4096
              - name: fast
                path: /srv/polly/fast
                types: [fast, standard]
          archive:
            driver: dir
            pools: [{ name: cold }]
      `),
    );
    const c = box.load({ configFile: file });
    assert.equal(c.source, file);
    assert.deepEqual(c.server, { host: '0.0.0.0', port: 8443, tls: { cert, key }, dataDir, shutdownTimeoutMs: 500, bodyLimitBytes: 2 * MiB, inProcessAgent: false, nodeId: 'n1' });
    assert.deepEqual(c.store, { type: 'sqlite', path: join(dataDir, 'catalog.db') });
    assert.equal(c.log.level, 'debug');
    assert.deepEqual(c.auth.tokens, [
      { name: 'ops', token: '0123456789abcdef-ops', role: 'admin', services: '*' },
      { name: 'kubernetes-prod', token: '0123456789abcdef-k8s', role: 'scheduler', services: ['default'] },
      { name: 'nomad', token: '0123456789abcdef-nomad', role: 'scheduler', services: '*' },
    ]);
    assert.deepEqual(c.placement, { filters: ['capacity', 'service'], scorers: { 'least-allocated': 3, 'zone-spread': 0 }, minFeasiblePools: 10, feasiblePercent: 50 });
    assert.deepEqual(c.reconcile, { intervalMs: 60_000, idempotencyTtlMs: 7_200_000 });
    assert.equal(c.libstorage.host, 'tcp://127.0.0.1:7981');
    assert.deepEqual(c.libstorage.listen, { kind: 'tcp', host: '127.0.0.1', port: 7981 });
    assert.deepEqual(c.libstorage.services.map((s) => s.name), ['default', 'archive']);
    assert.deepEqual(c.services, [
      {
        name: 'default',
        driver: 'dir',
        description: 'local directories',
        defaultType: 'standard',
        defaultSizeBytes: 2 * GiB,
        quota: { maxVolumes: 1000, maxBytes: 10 * TiB },
        driverConfig: { fsync: true, nested: { a: 1 } },
        pools: [
          {
            name: 'local',
            capacityBytes: 100 * GiB,
            overcommit: 1.5,
            zone: 'a',
            node: 'n1',
            types: ['standard'],
            labels: { tier: 'fast', 'example.com/disk': 'ssd' },
            maxIops: 3000,
            params: { blockSize: 4096, path: join(dataDir, 'pools', 'default', 'local') },
          },
          { name: 'fast', overcommit: 1, types: ['fast', 'standard'], labels: {}, maxIops: 0, params: { path: '/srv/polly/fast' } },
        ],
      },
      {
        name: 'archive',
        driver: 'dir',
        defaultSizeBytes: GiB,
        quota: {},
        driverConfig: {},
        pools: [{ name: 'cold', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: join(dataDir, 'pools', 'archive', 'cold') } }],
      },
    ]);
  });

  test('relative paths: dataDir against the working directory, pool and store paths against dataDir', () => {
    const file = box.write('rel.yml', yaml(`
      server: { dataDir: rel-data }
      store: { path: db/polly.db }
      services:
        default:
          driver: dir
          pools:
            - { name: a, path: mine/a }
            - { name: b, path: ../outside/b }
            - { name: c }
    `));
    const c = box.load({ configFile: file });
    const dataDir = resolve('rel-data');
    assert.equal(c.server.dataDir, dataDir);
    assert.deepEqual(c.store, { type: 'sqlite', path: join(dataDir, 'db', 'polly.db') });
    assert.deepEqual(c.services[0]!.pools.map((p) => p.params['path']), [join(dataDir, 'mine', 'a'), resolve(dataDir, '..', 'outside', 'b'), join(dataDir, 'pools', 'default', 'c')]);
  });

  test('pool types: omitted → the default type when the service has one, else untyped', () => {
    const file = box.write('types.yml', yaml(`
      services:
        typed:
          driver: dir
          defaults: { type: gold }
          pools: [{ name: p1 }, { name: p2, types: [] }, { name: p3, types: [silver, gold] }]
        untyped:
          driver: dir
          pools: [{ name: p1 }]
    `));
    const c = box.load({ configFile: file });
    assert.deepEqual(c.services[0]!.pools.map((p) => p.types), [['gold'], [], ['silver', 'gold']]);
    assert.deepEqual(c.services[1]!.pools.map((p) => p.types), [[]]);
    assert.equal(c.services[1]!.defaultType, undefined);
  });

  test('sizes and durations in every accepted spelling', () => {
    const file = box.write('units.yml', yaml(`
      server: { shutdownTimeout: 1500, bodyLimit: 64Ki }
      reconcile: { interval: "250", idempotencyTtl: 1h30m }
      services:
        default:
          driver: dir
          defaults: { size: 2 }
          quota: { maxBytes: 1.5Ti }
          pools: [{ name: p, capacity: 500M }]
    `));
    const c = box.load({ configFile: file });
    assert.equal(c.server.shutdownTimeoutMs, 1500);
    assert.equal(c.server.bodyLimitBytes, 64 * 1024);
    assert.deepEqual(c.reconcile, { intervalMs: 250, idempotencyTtlMs: 5_400_000 });
    assert.equal(c.services[0]!.defaultSizeBytes, 2 * GiB);
    assert.equal(c.services[0]!.quota.maxBytes, 1.5 * TiB);
    assert.equal(c.services[0]!.pools[0]!.capacityBytes, 500_000_000);
  });

  test('top-level x- keys hold YAML anchors; merge keys work', () => {
    const c = box.load({ configFile: box.write('anchors.yml', yaml(`
      x-pool: &pool { overcommit: 2, labels: { tier: fast } }
      services:
        default:
          driver: dir
          pools:
            - { <<: *pool, name: a }
            - { <<: *pool, name: b, overcommit: 3 }
    `)) });
    assert.deepEqual(c.services[0]!.pools.map((p) => [p.name, p.overcommit, p.labels]), [['a', 2, { tier: 'fast' }], ['b', 3, { tier: 'fast' }]]);
  });

  test('the result is deep-frozen: mutation throws', () => {
    const c = box.load({ configFile: box.write('freeze.yml', 'services: { s: { driver: dir, options: { deep: { x: 1 } }, pools: [{ name: p, labels: { a: b } }] } }\n') });
    const attempts: [string, () => void][] = [
      ['top', () => { (c as { source: string }).source = 'x'; }],
      ['server', () => { (c.server as { port: number }).port = 1; }],
      ['services array', () => { (c.services as unknown[]).push({}); }],
      ['pool', () => { (c.services[0]!.pools[0] as { overcommit: number }).overcommit = 9; }],
      ['labels', () => { (c.services[0]!.pools[0]!.labels as Record<string, string>)['a'] = 'c'; }],
      ['params', () => { (c.services[0]!.pools[0]!.params as Record<string, unknown>)['path'] = '/'; }],
      ['driverConfig', () => { ((c.services[0]!.driverConfig['deep'] as Record<string, unknown>))['x'] = 2; }],
      ['tokens', () => { (c.auth.tokens as unknown[]).push({}); }],
      ['scorers', () => { (c.placement.scorers as Record<string, number>)['x'] = 1; }],
      ['warnings', () => { (c.warnings as string[]).push('x'); }],
      ['raw', () => { (c.libstorage.raw as Record<string, unknown>)['x'] = 1; }],
    ];
    for (const [what, mutate] of attempts) assert.throws(mutate, TypeError, what);
    assert.ok(Object.isFrozen(c.services[0]!.pools[0]!.params));
  });
});

describe('loadConfig: env and flags', () => {
  const file = box.write('layers.yml', yaml(`
    server: { host: "127.0.0.1:1000", dataDir: /srv/file-data }
    log: { level: warn }
    auth:
      tokens: [{ name: ops, token: "file-token-0123456789", role: admin }]
  `));

  test('order: defaults < file < env < flags', () => {
    const cases: { name: string; env: NodeJS.ProcessEnv; flags: Record<string, string>; host: string; port: number; level: string; dataDir: string }[] = [
      { name: 'file only', env: {}, flags: {}, host: '127.0.0.1', port: 1000, level: 'warn', dataDir: '/srv/file-data' },
      { name: 'env over file', env: { POLLY_HOST: ':2000', POLLY_LOG_LEVEL: 'debug', POLLY_DATA_DIR: '/srv/env-data' }, flags: {}, host: '0.0.0.0', port: 2000, level: 'debug', dataDir: '/srv/env-data' },
      {
        name: 'flags over env',
        env: { POLLY_HOST: ':2000', POLLY_LOG_LEVEL: 'debug', POLLY_DATA_DIR: '/srv/env-data' },
        flags: { host: 'localhost:3000', logLevel: 'trace', dataDir: '/srv/flag-data' },
        host: 'localhost',
        port: 3000,
        level: 'trace',
        dataDir: '/srv/flag-data',
      },
      { name: 'empty env values are unset', env: { POLLY_HOST: '', POLLY_LOG_LEVEL: '' }, flags: { host: '' }, host: '127.0.0.1', port: 1000, level: 'warn', dataDir: '/srv/file-data' },
    ];
    for (const k of cases) {
      const c = box.load({ configFile: file, env: k.env, flags: k.flags });
      assert.deepEqual([c.server.host, c.server.port, c.log.level, c.server.dataDir], [k.host, k.port, k.level, k.dataDir], k.name);
      assert.deepEqual(c.store, { type: 'sqlite', path: join(k.dataDir, 'polly.db') }, k.name);
      assert.equal(c.services[0]!.pools[0]!.params['path'], join(k.dataDir, 'pools', 'default', 'local'), k.name);
    }
    // and without a file, env still overrides the defaults
    assert.equal(box.load({ env: { POLLY_HOST: '127.0.0.1:4000' } }).server.port, 4000);
  });

  test('store, TLS and admin token variables; POLLY_TOKEN, POLLY_FORMAT and unknown POLLY_* are ignored', () => {
    const cert = box.write('env.crt', 'CERT');
    const key = box.write('env.key', 'KEY');
    const c = box.load({
      configFile: file,
      env: {
        POLLY_STORE_TYPE: 'sqlite',
        POLLY_STORE_PATH: '/srv/env.db',
        POLLY_TLS_CERT: cert,
        POLLY_TLS_KEY: key,
        POLLY_ADMIN_TOKEN: 'env-admin-token-0123456789',
        POLLY_TOKEN: 'x',
        POLLY_FORMAT: 'json',
        POLLY_SOMETHING_ELSE: 'y',
      },
    });
    assert.deepEqual(c.store, { type: 'sqlite', path: '/srv/env.db' });
    assert.deepEqual(c.server.tls, { cert, key });
    assert.deepEqual(c.auth.tokens.map((t) => [t.name, t.role, t.services]), [['ops', 'admin', '*'], ['env-admin', 'admin', '*']]);
    assert.equal(c.auth.tokens[1]!.token, 'env-admin-token-0123456789');
  });

  test('bad env and flag values are named by the variable or flag, without a file line', () => {
    const cases: { env?: NodeJS.ProcessEnv; flags?: Record<string, string>; path: string; message: RegExp }[] = [
      { env: { POLLY_LOG_LEVEL: 'loud' }, path: 'POLLY_LOG_LEVEL', message: /^"loud" is not supported; accepted: fatal, error, warn, info, debug, trace, silent$/ },
      { env: { POLLY_HOST: 'nowhere' }, path: 'POLLY_HOST', message: /"nowhere" has no port; accepted: host:port/ },
      { env: { POLLY_STORE_TYPE: 'redis' }, path: 'POLLY_STORE_TYPE', message: /^"redis" is not supported; accepted: sqlite \(one machine\) or etcd \(several replicas\)$/ },
      { env: { POLLY_STORE_TYPE: 'etcd' }, path: 'store.endpoints', message: /is not set \(store.type is etcd\); accepted: etcd client URLs/ },
      { env: { POLLY_STORE_TYPE: 'etcd', POLLY_STORE_ENDPOINTS: 'http://a:1,ftp://b:2' }, path: 'POLLY_STORE_ENDPOINTS', message: /"ftp:\/\/b:2" is not an etcd client URL/ },
      { env: { POLLY_ADMIN_TOKEN: 'short' }, path: 'POLLY_ADMIN_TOKEN', message: /is too short; accepted: at least 16/ },
      { env: { POLLY_ADMIN_TOKEN: 'file-token-0123456789' }, path: 'POLLY_ADMIN_TOKEN', message: /same token as auth\.tokens\[0\]/ },
      { env: { POLLY_TLS_CERT: '/nonexistent/cert.pem' }, path: 'server.tls.key', message: /is required/ },
      { flags: { logLevel: 'chatty' }, path: '--logLevel', message: /"chatty" is not supported/ },
      { flags: { host: 'http://h:1/x' }, path: '--host', message: /path, query or user part/ },
    ];
    for (const k of cases) {
      const e = box.fail({ configFile: file, env: k.env ?? {}, flags: k.flags ?? {} });
      const p = e.problems.find((x) => x.path === k.path);
      assert.ok(p, `${k.path} in ${e.message}`);
      assert.match(p.message, k.message);
      if (k.path.startsWith('POLLY_') || k.path.startsWith('--')) assert.equal(p.line, undefined);
      assert.ok(!e.message.includes('file-token-0123456789'), 'tokens never appear in messages');
    }
  });
});

describe('loadConfig: problems', () => {
  const cases: { name: string; yaml: string; problems: [string, RegExp][] }[] = [
    {
      name: 'unknown keys at several depths',
      yaml: `
        server: { hots: "127.0.0.1:1" }
        stroe: {}
        services:
          default:
            driver: dir
            defaults: { sise: 1Gi }
            quota: { maxVolume: 3 }
            pools: [{ name: a, capcity: 10Gi }]
        auth:
          tokens: [{ name: t, token: "0123456789abcdef", role: admin, rol: x }]
      `,
      problems: [
        ['server.hots', /^unknown key; accepted keys: host, dataDir, tls, shutdownTimeout, bodyLimit, inProcessAgent, nodeId$/],
        ['stroe', /^unknown key; accepted keys: server, store, log, auth, placement, reconcile, claims, nodes, libstorage, osb, docker, csi, services$/],
        ['services.default.defaults.sise', /^unknown key; accepted keys: size, type$/],
        ['services.default.quota.maxVolume', /^unknown key; accepted keys: maxVolumes, maxBytes$/],
        ['auth.tokens[0].rol', /^unknown key; accepted keys: name, token, role, services$/],
      ],
    },
    {
      name: 'a misspelt pool key is not taken for a driver parameter',
      yaml: `
        services: { default: { driver: dir, pools: [{ name: a, capcity: 10Gi, Zone: b }] } }
      `,
      problems: [
        ['services.default.pools[0].capcity', /looks like a misspelling of "capacity"; accepted keys: name, path, capacity/],
        ['services.default.pools[0].Zone', /looks like a misspelling of "zone"/],
      ],
    },
    {
      name: 'unknown driver, filter, scorer and service',
      yaml: `
        services: { default: { driver: virtualbox } }
        placement: { filters: [service, zone], scorers: { most-allocated: 2 } }
        auth: { tokens: [{ name: k8s, token: "0123456789abcdef", role: scheduler, services: [default, other] }] }
      `,
      problems: [
        ['services.default.driver', /^unknown driver "virtualbox"; accepted: dir$/],
        ['placement.filters[1]', /^unknown filter "zone"; accepted: service, capacity, type, topology, iops, labels$/],
        ['placement.scorers.most-allocated', /^unknown scorer "most-allocated"; accepted: least-allocated, zone-spread$/],
        ['auth.tokens[0].services[1]', /^unknown service "other"; accepted: default$/],
      ],
    },
    {
      name: 'bad sizes',
      yaml: `
        server: { bodyLimit: 1048576 }
        services:
          default:
            driver: dir
            defaults: { size: 10Gx }
            quota: { maxBytes: -1 }
            pools: [{ name: a, capacity: lots }, { name: b, capacity: 0 }]
      `,
      problems: [
        ['server.bodyLimit', /is out of range; accepted: a size from 1Ki to 1Gi/],
        ['services.default.defaults.size', /^"10Gx" is not a valid size; accepted: a positive size such as 512Mi/],
        ['services.default.quota.maxBytes', /^the number -1 is not a valid size/],
        ['services.default.pools[0].capacity', /^"lots" is not a valid size/],
        ['services.default.pools[1].capacity', /^the number 0 is not a valid size/],
      ],
    },
    {
      name: 'bad durations',
      yaml: `
        server: { shutdownTimeout: soon }
        reconcile: { interval: 0s, idempotencyTtl: -5 }
      `,
      problems: [
        ['server.shutdownTimeout', /^"soon" is not a duration; accepted: a duration such as 500ms/],
        ['reconcile.interval', /^"0s" is too short; accepted: a duration above 0/],
        ['reconcile.idempotencyTtl', /^-5 is negative/],
      ],
    },
    {
      name: 'bad numbers and booleans',
      yaml: `
        server: { inProcessAgent: "yes" }
        placement: { minFeasiblePools: 0, feasiblePercent: 101 }
        services:
          default:
            driver: dir
            quota: { maxVolumes: 1.5 }
            pools: [{ name: a, overcommit: 0 }, { name: b, overcommit: many }, { name: c, maxIops: -1 }]
      `,
      problems: [
        ['server.inProcessAgent', /^got "yes"; accepted: true or false$/],
        ['placement.minFeasiblePools', /^the number 0 is out of range; accepted: a whole number of at least 1$/],
        ['placement.feasiblePercent', /^the number 101 is out of range; accepted: a whole number from 1 to 100$/],
        ['services.default.quota.maxVolumes', /^got the number 1.5; accepted: a whole number of at least 0$/],
        ['services.default.pools[0].overcommit', /^the number 0 is out of range; accepted: a number above 0/],
        ['services.default.pools[1].overcommit', /^got "many"/],
        ['services.default.pools[2].maxIops', /out of range/],
      ],
    },
    {
      name: 'bad weights',
      yaml: `
        placement: { scorers: { least-allocated: 101, zone-spread: -1 } }
      `,
      problems: [
        ['placement.scorers.least-allocated', /^the number 101 is out of range; accepted: a whole number from 0 to 100$/],
        ['placement.scorers.zone-spread', /^the number -1 is out of range/],
      ],
    },
    {
      name: 'duplicates: pools, types, filters, token names and token values',
      yaml: `
        services:
          default:
            driver: dir
            pools: [{ name: a }, { name: b, types: [x, x] }, { name: a, path: elsewhere }]
        placement: { filters: [service, service] }
        auth:
          tokens:
            - { name: one, token: "0123456789abcdef", role: admin }
            - { name: one, token: "fedcba9876543210", role: admin }
            - { name: three, token: "0123456789abcdef", role: admin }
      `,
      problems: [
        ['services.default.pools[2].name', /^pool "a" is already defined at services\.default\.pools\[0\]; accepted: pool names unique within a service$/],
        ['services.default.pools[1].types[1]', /type "x" is listed twice/],
        ['placement.filters[1]', /filter "service" is listed twice/],
        ['auth.tokens[1].name', /name "one" is already used by auth\.tokens\[0\]/],
        ['auth.tokens[2].token', /^same token as auth\.tokens\[0\]; accepted: a token used by one entry only$/],
      ],
    },
    {
      name: 'tokens: short, with spaces, missing role, admin with services, empty service list',
      yaml: `
        auth:
          tokens:
            - { name: a, token: "too-short", role: admin }
            - { name: b, token: "has spaces in the token", role: admin }
            - { name: c, token: "0123456789abcdef-c" }
            - { name: d, token: "0123456789abcdef-d", role: admin, services: [default] }
            - { name: e, token: "0123456789abcdef-e", role: scheduler, services: [] }
            - { name: f, token: "0123456789abcdef-f", role: root }
      `,
      problems: [
        ['auth.tokens[0].token', /^is too short; accepted: at least 16 \(at most 4096\) printable ASCII characters without spaces$/],
        ['auth.tokens[1].token', /^a value of 23 characters is not valid; accepted: at least 16/],
        ['auth.tokens[2].role', /^is required; accepted: admin, scheduler$/],
        ['auth.tokens[5].role', /^"root" is not supported; accepted: admin, scheduler$/],
      ],
    },
    {
      name: 'token semantics (after the schema passes)',
      yaml: `
        auth:
          tokens:
            - { name: d, token: "0123456789abcdef-d", role: admin, services: [default] }
            - { name: e, token: "0123456789abcdef-e", role: scheduler, services: [] }
            - { name: f, token: "0123456789abcdef-f", role: scheduler, services: all }
      `,
      problems: [
        ['auth.tokens[0].services', /^admin tokens reach every service/],
        ['auth.tokens[1].services', /^must not be empty/],
        ['auth.tokens[2].services', /^"all" is not a list; accepted: "\*" \(every service\) or a list of service names \(default\)$/],
      ],
    },
    {
      name: 'label values must be strings',
      yaml: `
        services: { s: { driver: dir, pools: [{ name: p, labels: { ok: 5 } }] } }
      `,
      problems: [['services.s.pools[0].labels.ok', /^got the number 5; accepted: a string \(quote values such as true or 10\)$/]],
    },
    {
      name: 'names and labels are checked (semantic pass)',
      yaml: `
        server: { nodeId: "node one" }
        services:
          "bad name": { driver: dir }
          s:
            driver: dir
            defaults: { type: "gold!" }
            pools: [{ name: "../up", zone: "z z", labels: { "bad key!": x } }]
        auth: { tokens: [{ name: "-x", token: "0123456789abcdef", role: admin }] }
      `,
      problems: [
        ['server.nodeId', /^"node one" is not a valid node id; accepted: 1-128 letters/],
        ['services["bad name"]', /^"bad name" is not a valid service name/],
        ['services.s.defaults.type', /^"gold!" is not a valid type name/],
        ['services.s.pools[0].name', /^"\.\.\/up" is not a valid pool name/],
        ['services.s.pools[0].zone', /^"z z" is not a valid zone name/],
        ['services.s.pools[0].labels["bad key!"]', /^is not a valid label; accepted: a mapping of label keys/],
        ['auth.tokens[0].name', /^"-x" is not a valid token name/],
      ],
    },
    {
      name: 'a default type no pool offers',
      yaml: `
        services: { s: { driver: dir, defaults: { type: gold }, pools: [{ name: p, types: [silver] }] } }
      `,
      problems: [['services.s.defaults.type', /^no pool of service "s" offers type "gold"; accepted: a type a pool lists in its types \(silver\)$/]],
    },
    {
      name: 'TLS: both or neither; https needs TLS; files must exist',
      yaml: `
        server: { host: "https://127.0.0.1:8443", tls: { cert: /nonexistent/c.pem } }
      `,
      problems: [['server.tls.key', /^is required; accepted: the path of a PEM private key file$/]],
    },
    {
      name: 'https without tls, missing TLS files',
      yaml: `
        server: { host: "https://127.0.0.1:8443" }
        libstorage: { host: "127.0.0.1:8443" }
      `,
      problems: [
        ['server.host', /asks for TLS but server\.tls is not set/],
        ['libstorage.host', /is the same address as server\.host/],
      ],
    },
    {
      name: 'TLS files that do not exist',
      yaml: `
        server: { tls: { cert: /nonexistent/c.pem, key: /nonexistent/k.pem } }
      `,
      problems: [
        ['server.tls.cert', /^file "\/nonexistent\/c\.pem" not found; accepted: a readable PEM certificate file$/],
        ['server.tls.key', /^file "\/nonexistent\/k\.pem" not found/],
      ],
    },
    {
      name: 'overlapping pool directories',
      yaml: `
        server: { dataDir: /srv/polly }
        services:
          a: { driver: dir, pools: [{ name: p, path: /srv/pools/a }, { name: q, path: /srv/pools/a/inner }] }
          b: { driver: dir, pools: [{ name: p, path: /srv/pools/a }, { name: root, path: /srv }] }
      `,
      problems: [
        ['services.a.pools[1].path', /overlaps the directory of services\.a\.pools\[0\]/],
        ['services.b.pools[0].path', /overlaps the directory of services\.a\.pools\[0\]/],
        ['services.b.pools[1].path', /contains server\.dataDir/],
      ],
    },
    {
      name: 'wrong shapes',
      yaml: `
        server: "127.0.0.1:7978"
        services: { default: { driver: dir, pools: [] } }
        placement: { filters: service }
      `,
      problems: [
        ['server', /^got "127\.0\.0\.1:7978"; accepted: a mapping with keys: host, dataDir/],
        ['services.default.pools', /^must not be empty; accepted: a list of at least one pool$/],
        ['placement.filters', /^got "service"; accepted: a list of names/],
      ],
    },
    {
      name: 'empty services mapping and missing driver',
      yaml: `
        services: {}
      `,
      problems: [['services', /^must not be empty; accepted: a mapping of service names to services/]],
    },
    {
      name: 'missing driver',
      yaml: `
        services: { default: { pools: [{ path: /x }] } }
      `,
      problems: [
        ['services.default.driver', /^is required; accepted: the name of a storage driver$/],
        ['services.default.pools[0].name', /^is required/],
      ],
    },
    {
      name: 'libstorage host forms',
      yaml: `
        libstorage: { host: "unix://relative.sock", embedded: false }
      `,
      problems: [
        ['libstorage.embedded', /^unknown key; accepted keys: host, enabled, tls, services$/],
      ],
    },
  ];

  for (const k of cases) {
    test(k.name, () => {
      const e = box.fail({ configFile: box.write('problem.yml', yaml(k.yaml)) });
      for (const [path, message] of k.problems) {
        const p = e.problems.find((x) => x.path === path);
        assert.ok(p, `expected a problem at ${path}; got:\n${e.message}`);
        assert.match(p.message, message, `${path}: ${p.message}`);
        assert.ok(e.message.includes(`  ${path}: ${p.message}`), 'the message lists each problem');
      }
    });
  }

  test('problems carry the line of the key in the file', () => {
    const e = box.fail({ configFile: box.write('lines.yml', 'log:\n  level: info\nservices:\n  default:\n    driver: virtualbox\n    pools:\n      - name: a\n        capacity: 10Gx\n') });
    assert.deepEqual(
      e.problems.map((p) => [p.path, p.line]),
      [['services.default.driver', 5], ['services.default.pools[0].capacity', 8]],
    );
    assert.match(e.message, /services\.default\.driver: unknown driver "virtualbox"; accepted: dir \[line 5\]/);
  });

  test('YAML syntax errors give the line', () => {
    const cases: [string, number, RegExp][] = [
      ['server:\n  host: 1\n  dataDir: [a, b\nlog: {}\n', 4, /YAML syntax error at line 4, column 1: Flow sequence/],
      ['log: {}\nserver:\n  host: a: b\n', 3, /YAML syntax error at line 3, column 9: Nested mappings/],
      ['log: { level: info }\nlog: { level: warn }\n', 2, /YAML syntax error at line 2, column 1: Map keys must be unique/],
      ['services:\n\tdefault: {}\n', 2, /YAML syntax error at line 2/],
    ];
    for (const [text, line, pattern] of cases) {
      const file = box.write('syntax.yml', text);
      const e = box.fail({ configFile: file });
      assert.equal(e.problems[0]!.path, file);
      assert.equal(e.problems[0]!.line, line, text);
      assert.match(e.problems[0]!.message, pattern);
    }
  });

  test('the file must be a mapping, exist when named, and not be a directory', () => {
    const list = box.fail({ configFile: box.write('list.yml', '- a\n- b\n') });
    assert.match(list.message, /\(top level\): the file holds a list; accepted: a YAML mapping/);
    const missing = join(box.dir, 'missing.yml');
    const e = box.fail({ configFile: missing });
    assert.deepEqual(e.problems, [{ path: missing, message: 'file not found; accepted: a readable YAML file' }]);
    assert.match(box.fail({ configFile: box.dir }).problems[0]!.message, /^is a directory/);
  });

  test('libstorage.host must be a socket path or an address', () => {
    const e = box.fail({ configFile: box.write('ls.yml', 'libstorage: { host: "unix://relative.sock" }\n') });
    assert.match(e.problems[0]!.message, /does not name an absolute socket path; accepted: tcp:\/\/host:port, host:port or unix:/);
    const ok = box.load({ configFile: box.write('ls2.yml', 'libstorage: { host: "unix:///run/polly/ls.sock" }\n') });
    assert.equal(ok.libstorage.host, 'unix:///run/polly/ls.sock');
  });

  test('front doors: libStorage services, the broker and the Docker plugin', () => {
    const c = box.load({
      configFile: box.write('doors.yml', yaml(`
        server: { host: "127.0.0.1:7978" }
        libstorage:
          host: "tcp://127.0.0.1:0"
          services:
            swarm: { service: fast, jwtSecret: "0123456789abcdef-jwt" }
            rexray: { service: fast, driver: vfs, type: nas }
        osb: { username: cf, password: "0123456789abcdef-pw", host: "127.0.0.1:7982", identity: cf-prod }
        docker: { socket: /run/docker/plugins/polly.sock, host: "127.0.0.1:0", specFile: /etc/docker/plugins/polly.spec, service: fast }
        services:
          fast: { driver: dir }
      `)),
    });
    assert.deepEqual(c.libstorage.listen, { kind: 'tcp', host: '127.0.0.1', port: 0 });
    assert.deepEqual(c.libstorage.services, [
      { name: 'swarm', service: 'fast', driverName: 'vfs', driverType: 'object', jwtSecret: '0123456789abcdef-jwt' },
      { name: 'rexray', service: 'fast', driverName: 'vfs', driverType: 'nas' },
    ]);
    assert.deepEqual(c.osb, { listen: { host: '127.0.0.1', port: 7982 }, username: 'cf', password: '0123456789abcdef-pw', identity: 'cf-prod' });
    assert.equal(c.docker.socket, '/run/docker/plugins/polly.sock');
    assert.deepEqual(c.docker.tcp, { host: '127.0.0.1', port: 0 });
    assert.equal(c.docker.specFile, '/etc/docker/plugins/polly.spec');
    assert.equal(c.docker.service, 'fast');
    const off = box.load({ configFile: box.write('off.yml', 'libstorage: { enabled: false }\ndocker: { enabled: false }\n') });
    assert.equal(off.libstorage.listen, undefined);
    assert.equal(off.docker.enabled, false);
    const env = box.load({ env: { POLLY_LIBSTORAGE_HOST: 'unix:///run/polly/ls.sock', POLLY_DOCKER_SOCKET: '/run/x/p.sock' } });
    assert.deepEqual(env.libstorage.listen, { kind: 'unix', path: '/run/polly/ls.sock' });
    assert.equal(env.docker.socket, '/run/x/p.sock');
  });

  test('front door mistakes are named', () => {
    const e = box.fail({
      configFile: box.write('doors-bad.yml', yaml(`
        server: { host: "127.0.0.1:7978" }
        libstorage:
          host: "127.0.0.1:7978"
          services:
            a: { service: nope }
            b: { jwtSecret: short }
        osb: { username: cf }
        docker: { specFile: /etc/docker/plugins/polly.spec, service: nope }
      `)),
    });
    const paths = e.problems.map((p) => p.path);
    for (const p of ['libstorage.services.b.jwtSecret']) assert.ok(paths.includes(p), `${p} in ${JSON.stringify(e.problems)}`);
    const e2 = box.fail({
      configFile: box.write('doors-bad2.yml', yaml(`
        server: { host: "127.0.0.1:7978" }
        libstorage: { host: "127.0.0.1:7978", services: { a: { service: nope } } }
        osb: { username: cf }
        docker: { specFile: /etc/docker/plugins/polly.spec, service: nope }
      `)),
    });
    const messages = Object.fromEntries(e2.problems.map((p) => [p.path, p.message]));
    assert.match(messages['libstorage.host']!, /same address as server.host/);
    assert.match(messages['libstorage.services.a.service']!, /"nope" is not a configured service/);
    assert.match(messages['osb.password']!, /is required when the other credential is set/);
    assert.match(messages['docker.specFile']!, /docker.host is not/);
    assert.match(messages['docker.service']!, /"nope" is not a configured service/);
  });

  test('the schema error stage reports all its problems at once', () => {
    const e = box.fail({ configFile: box.write('many.yml', 'server: { hots: x, port: 1 }\nlog: { level: loud }\n') });
    assert.deepEqual(e.problems.map((p) => p.path), ['server.hots', 'server.port', 'log.level']);
  });

  test('registries drive the accepted names', () => {
    const file = box.write('reg.yml', 'services: { s: { driver: btrfs } }\nplacement: { filters: [a] }\n');
    const c = box.load({ configFile: file, knownDrivers: ['dir', 'btrfs'], knownFilters: ['a', 'b'], knownScorers: [] });
    assert.equal(c.services[0]!.driver, 'btrfs');
    assert.deepEqual(c.placement.filters, ['a']);
    assert.deepEqual(c.placement.scorers, {});
    assert.deepEqual(SCORERS.length, 2);
  });

  test('claims: TTLs and the expiry interval, a default no longer than the maximum', () => {
    const c = box.load({ configFile: box.write('claims.yml', 'claims: { defaultTtl: 30s, maxTtl: 10m, expireInterval: 1s }\n') });
    assert.deepEqual(c.claims, { defaultTtlMs: 30_000, maxTtlMs: 600_000, expireIntervalMs: 1_000 });
    const e = box.fail({ configFile: box.write('claims-bad.yml', 'claims: { defaultTtl: 2h, maxTtl: 1h, expireInterval: 0s }\n') });
    assert.equal(e.problems.length, 2, JSON.stringify(e.problems));
    assert.ok(e.problems.some((p) => p.path === 'claims.defaultTtl' && /longer than claims\.maxTtl/.test(p.message)), JSON.stringify(e.problems));
    assert.ok(e.problems.some((p) => p.path === 'claims.expireInterval' && /too short/.test(p.message)), JSON.stringify(e.problems));
    const short = box.fail({ configFile: box.write('claims-short.yml', 'claims: { maxTtl: 10ms }\n') });
    assert.ok(short.problems.some((p) => p.path === 'claims.maxTtl' && /too short/.test(p.message)), JSON.stringify(short.problems));
  });
});
