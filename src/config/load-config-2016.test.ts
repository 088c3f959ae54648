import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GiB } from '../core/units.js';
import { sandbox, yaml } from './test-kit.js';

const box = sandbox();
after(() => box.cleanup());

/** The example of specs/polly-2016/configuration.md, verbatim. */
const EXAMPLE_2016 = yaml(`
  polly:
    host: tcp://127.0.0.1:7978
    store:
      type: boltdb
      endpoints: /tmp/boltdb
      bucket: MyBoltDb_test
  libstorage:
    host: tcp://127.0.0.1:7981
    embedded: false
    server:
      endpoints:
        localhost:
          address: tcp://:7981
      services:
        swarm_virtualbox:
          libstorage:
            storage:
              driver: virtualbox
  virtualbox:
    endpoint: http://10.0.2.2:18083
    tls: false
    volumePath: /Users/your_user/VirtualBox Volumes
    controllerName: SATAController
`);

describe('loadConfig: the 2016 layout', () => {
  test('the 2016 example is refused with its keys named: boltdb store, unknown virtualbox driver', () => {
    const e = box.fail({ configFile: box.write('example.yml', EXAMPLE_2016) });
    assert.deepEqual(e.problems, [
      { path: 'polly.store.type', message: '"boltdb" is not supported; accepted: sqlite (one machine) or etcd (several replicas)', line: 4 },
      { path: 'libstorage.server.services.swarm_virtualbox.libstorage.storage.driver', message: 'unknown driver "virtualbox"; accepted: dir', line: 18 },
    ]);
    assert.match(e.message, /polly\.store\.type: "boltdb" is not supported; accepted: sqlite \(one machine\) or etcd \(several replicas\)/);
  });

  test('the 2016 example with sqlite and the dir driver loads', () => {
    const db = join(box.dir, 'polly.db');
    const text = EXAMPLE_2016.replace('type: boltdb', 'type: sqlite')
      .replace('endpoints: /tmp/boltdb', `endpoints: ${db}`)
      .replace('driver: virtualbox', 'driver: dir')
      .replace(/^virtualbox:/m, 'dir:');
    const dataDir = join(box.dir, 'data');
    const c = box.load({ configFile: box.write('example-dir.yml', text), env: { POLLY_DATA_DIR: dataDir } });
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.server.port, 7978);
    assert.deepEqual(c.store, { type: 'sqlite', path: db });
    assert.deepEqual(c.libstorage, {
      host: 'tcp://127.0.0.1:7981',
      listen: { kind: 'tcp', host: '127.0.0.1', port: 7981 },
      services: [{ name: 'swarm_virtualbox', service: 'swarm_virtualbox', driverName: 'vfs', driverType: 'object' }],
      raw: { host: 'tcp://127.0.0.1:7981', embedded: false, server: { endpoints: { localhost: { address: 'tcp://:7981' } } } },
    });
    assert.deepEqual(c.services, [
      {
        name: 'swarm_virtualbox',
        driver: 'dir',
        defaultSizeBytes: GiB,
        quota: {},
        driverConfig: { endpoint: 'http://10.0.2.2:18083', tls: false, volumePath: '/Users/your_user/VirtualBox Volumes', controllerName: 'SATAController' },
        pools: [{ name: 'local', overcommit: 1, types: [], labels: {}, maxIops: 0, params: { path: join(dataDir, 'pools', 'swarm_virtualbox', 'local') } }],
      },
    ]);
    assert.deepEqual(c.warnings, ['polly.store.bucket: ignored (the SQLite store has no buckets)']);
  });

  test('the 2016 libkv stores are refused naming polly.store.type', () => {
    for (const type of ['boltdb', 'consul', 'zk']) {
      const e = box.fail({ configFile: box.write(`${type}.yml`, `polly:\n  store:\n    type: ${type}\n    endpoints: 10.50.0.1:8500\n`) });
      assert.deepEqual(e.problems, [{ path: 'polly.store.type', message: `"${type}" is not supported; accepted: sqlite (one machine) or etcd (several replicas)`, line: 3 }], type);
    }
    const other = box.fail({ configFile: box.write('redis.yml', 'polly: { store: { type: redis } }\n') });
    assert.deepEqual(other.problems.map((p) => [p.path, p.message]), [['polly.store.type', '"redis" is not supported; accepted: sqlite (one machine) or etcd (several replicas)']]);
  });

  test("libStorage's own service layout: driver key, inherited driver sections, integration defaults", () => {
    const file = box.write(
      'libstorage.yml',
      yaml(`
        libstorage:
          logging: { level: warn }
          integration:
            volume:
              operations:
                create:
                  default: { size: 2, type: standard }
                mount: { preempt: true }
          server:
            logging: { level: debug }
            dir:
              shared: yes
              depth: { a: 1, b: 2 }
            services:
              dir-00:
                driver: dir
                dir: { volumePath: /v00, depth: { b: 3 } }
              dir-01:
                libstorage: { storage: { driver: dir } }
                integration: { volume: { operations: { create: { default: { size: 5 } } } } }
        dir:
          topLevel: true
        rexray:
          modules: {}
      `),
    );
    const c = box.load({ configFile: file });
    assert.equal(c.log.level, 'debug');
    assert.deepEqual(
      c.services.map((s) => [s.name, s.driver, s.defaultSizeBytes, s.defaultType, s.driverConfig]),
      [
        ['dir-00', 'dir', 2 * GiB, 'standard', { topLevel: true, shared: 'yes', depth: { a: 1, b: 3 }, volumePath: '/v00' }],
        ['dir-01', 'dir', 5 * GiB, 'standard', { topLevel: true, shared: 'yes', depth: { a: 1, b: 2 } }],
      ],
    );
    // the service default type makes the default pool offer it
    assert.deepEqual(c.services[0]!.pools[0]!.types, ['standard']);
    assert.deepEqual(c.warnings, [
      'libstorage.integration.volume.operations.mount.preempt: ignored (of the integration settings Polly uses only volume.operations.create.default.size and .type)',
      "rexray: ignored (REX-Ray's settings belong in REX-Ray's own configuration)",
    ]);
    assert.deepEqual(Object.keys(c.libstorage.raw), ['logging', 'integration', 'server']);
    assert.equal((c.libstorage.raw['server'] as Record<string, unknown>)['services'], undefined);
  });

  test('problems of the 2016 layout name the 2016 keys', () => {
    const cases: { name: string; yaml: string; problems: [string, RegExp][] }[] = [
      {
        name: 'unknown keys at each level',
        yaml: `
          polly: { hots: x, store: { type: sqlite, bukket: b } }
          libstorage:
            hots: y
            server:
              servises: {}
              services:
                s: { driver: dir, dirr: {}, libstorage: { storage: { drivr: dir } } }
          virtualbox: {}
        `,
        problems: [
          ['polly.hots', /^unknown key; accepted keys: host, store$/],
          ['polly.store.bukket', /^unknown key; accepted keys: type, endpoints, bucket$/],
          ['libstorage.hots', /^unknown key; accepted keys: host, embedded, service, client, server/],
          ['libstorage.server.servises', /^unknown key; accepted keys: services, endpoints, tls, auth/],
          ['libstorage.server.services.s.dirr', /^unknown key; accepted keys: libstorage, driver, integration, dir$/],
          ['libstorage.server.services.s.libstorage.storage.drivr', /^unknown key; accepted keys: driver$/],
          ['virtualbox', /^unknown key; accepted keys: polly, libstorage, rexray, dir/],
        ],
      },
      {
        name: 'unknown driver via the libStorage `driver` key and a driver-named section',
        yaml: `
          libstorage:
            server:
              services:
                ebs-00: { driver: ebs, ebs: { region: x } }
          ebs: { accessKey: k }
        `,
        problems: [['libstorage.server.services.ebs-00.driver', /^unknown driver "ebs"; accepted: dir$/]],
      },
      {
        name: 'missing and contradicting drivers',
        yaml: `
          libstorage:
            server:
              services:
                none: {}
                both: { driver: dir, libstorage: { storage: { driver: other } } }
        `,
        problems: [
          ['libstorage.server.services.none.libstorage.storage.driver', /^is required; accepted: the name of a storage driver$/],
          ['libstorage.server.services.both.driver', /^"dir" contradicts libstorage\.storage\.driver "other"; accepted: one driver per service$/],
        ],
      },
      {
        name: "libStorage's token auth is refused; bad names and sizes are named by their 2016 key",
        yaml: `
          polly: { host: "tcp://127.0.0.1" }
          libstorage:
            server:
              auth: { key: secret }
              services:
                "bad name": { driver: dir }
                ok: { driver: dir, integration: { volume: { operations: { create: { default: { size: huge } } } } } }
        `,
        problems: [
          ['libstorage.server.auth', /^libStorage's token authentication is not supported; accepted: POLLY_ADMIN_TOKEN/],
          ['polly.host', /^"tcp:\/\/127\.0\.0\.1" has no port/],
          ['libstorage.server.services["bad name"]', /^"bad name" is not a valid service name/],
          ['libstorage.server.services.ok.integration.volume.operations.create.default.size', /^"huge" is not a valid size/],
        ],
      },
      {
        name: "Polly's layout and the 2016 layout cannot be mixed",
        yaml: `
          polly: { host: "127.0.0.1:7978" }
          server: { dataDir: /srv }
          services: { default: { driver: dir } }
        `,
        problems: [
          ['server', /^a key of Polly's own layout mixed with the 2016 layout \(polly:, libstorage\.server\.services\); accepted: one layout per file$/],
          ['services', /mixed with the 2016 layout/],
        ],
      },
      {
        name: 'store endpoints must be one path; log levels must be known',
        yaml: `
          polly: { store: { type: sqlite, endpoints: [a.db, b.db] } }
          libstorage: { logging: { level: verbose }, server: { services: { s: { driver: dir } } } }
        `,
        problems: [
          ['polly.store.endpoints', /^got a list; accepted: for the sqlite store, one file path$/],
          ['libstorage.logging.level', /^"verbose" is not supported; accepted: panic, fatal, error, warn, info, debug$/],
        ],
      },
    ];
    for (const k of cases) {
      const e = box.fail({ configFile: box.write('legacy-problem.yml', yaml(k.yaml)) });
      for (const [path, message] of k.problems) {
        const p = e.problems.find((x) => x.path === path);
        assert.ok(p, `${k.name}: expected a problem at ${path}; got:\n${e.message}`);
        assert.match(p.message, message, `${k.name}: ${path}`);
      }
    }
  });

  test('env and flags override the 2016 file too; 2016 problems carry lines', () => {
    const file = box.write('env2016.yml', 'polly:\n  host: tcp://127.0.0.1:7978\nlibstorage:\n  server:\n    services:\n      s:\n        driver: dir\n');
    assert.equal(box.load({ configFile: file, env: { POLLY_HOST: ':9000' } }).server.port, 9000);
    assert.equal(box.load({ configFile: file, env: { POLLY_HOST: ':9000' }, flags: { host: ':9001' } }).server.port, 9001);
    const bad = box.write('bad2016.yml', 'polly:\n  host: 7978\nlibstorage:\n  server:\n    services:\n      s:\n        driver: dir\n');
    assert.deepEqual(box.fail({ configFile: bad }).problems.map((p) => [p.path, p.line]), [['polly.host', 2]]);
  });

  test('detection: a libstorage section without server.services is part of Polly\'s layout', () => {
    const c = box.load({ configFile: box.write('own-ls.yml', 'libstorage: { host: "tcp://127.0.0.1:7981" }\nlog: { level: warn }\n') });
    assert.equal(c.libstorage.host, 'tcp://127.0.0.1:7981');
    assert.equal(c.log.level, 'warn');
  });
});
