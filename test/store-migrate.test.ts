/**
 * `polly store migrate --from sqlite:PATH --to etcd:ENDPOINTS` with real processes: a one-machine
 * install's catalog moves into etcd verified by counts and checksums, and a server on etcd then
 * serves the same volumes and usage.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { startEtcdCluster, type EtcdCluster } from '../src/store/etcd/testing/etcd-cluster.js';
import { uniquePrefix } from './support/etcd-replicas.js';
import { listAll } from './support/polly-fixtures.js';
import { api, cleanup, cliRun, startPollyServer, tempDir } from './support/server-process.js';

after(cleanup);

describe('polly store migrate', { timeout: 120_000 }, () => {
  let etcd: EtcdCluster;
  let dataDir: string;
  let poolPath: string;
  let before_: { volumes: any[]; pools: any[]; snapshots: any[] };

  before(async () => {
    etcd = await startEtcdCluster();
    dataDir = tempDir('migrate-src');
    poolPath = join(tempDir('migrate-pool'), 'p1');
    const services = { default: { driver: 'dir', pools: [{ name: 'p1', path: poolPath, capacity: '10Gi' }] } };
    const server = await startPollyServer({ dataDir, config: { services } });
    for (let i = 0; i < 40; i++) assert.equal((await api(server, 'POST', '/v1/volumes', { service: 'default', name: `v-${i}`, size: '16Mi', labels: { n: String(i) } })).status, 201);
    const first = (await listAll(server, '/v1/volumes'))[0];
    assert.equal((await api(server, 'POST', `/v1/volumes/${first.id}/snapshots`, { name: 'snap-1' })).status, 201);
    before_ = { volumes: await listAll(server, '/v1/volumes'), pools: (await api(server, 'GET', '/v1/pools')).body.items, snapshots: await listAll(server, '/v1/snapshots') };
    await server.stop();
  });
  after(async () => etcd?.stop());

  it('copies every record into etcd and verifies counts and checksums; a server on etcd serves the same catalog', async () => {
    const prefix = uniquePrefix('migrate');
    const res = await cliRun(null, ['store', 'migrate', '--from', `sqlite:${join(dataDir, 'polly.db')}`, '--to', `etcd:${etcd.endpoints[0]}`, '--prefix', prefix]);
    assert.equal(res.code, 0, res.stderr);
    const report = parse(res.stdout);
    assert.equal(report.verified, true);
    assert.equal(report.source.records, report.target.records);
    assert.equal(report.source.checksum, report.target.checksum);
    assert.ok(report.copied >= 40 + 40 + 1, `volumes, names and more: ${report.copied}`);

    const server = await startPollyServer({
      config: {
        store: { type: 'etcd', endpoints: etcd.endpoints, prefix },
        services: { default: { driver: 'dir', pools: [{ name: 'p1', path: poolPath, capacity: '10Gi' }] } },
      },
    });
    const strip = (vs: any[]) => vs.map(({ id, name, status, size, labels, pool }) => ({ id, name, status, size, labels, pool }));
    assert.deepEqual(strip(await listAll(server, '/v1/volumes')), strip(before_.volumes));
    assert.deepEqual((await api(server, 'GET', '/v1/pools')).body.items, before_.pools);
    assert.deepEqual((await listAll(server, '/v1/snapshots')).map((s) => s.id), before_.snapshots.map((s) => s.id));
    // Names stay unique after the move: the same name is the same volume.
    const again = await api(server, 'POST', '/v1/volumes', { service: 'default', name: 'v-0', size: '16Mi', labels: { n: '0' } });
    assert.equal(again.body.id, before_.volumes.find((v) => v.name === 'v-0').id);
    await server.stop();

    // A second run finds the target full and writes nothing.
    const second = await cliRun(null, ['store', 'migrate', '--from', `sqlite:${join(dataDir, 'polly.db')}`, '--to', `etcd:${etcd.endpoints[0]}`, '--prefix', prefix]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already holds \d+ records/);
  });

  it('refuses wrong stores with a usage error naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['--from', 'sqlite:/nonexistent/polly.db', '--to', `etcd:${etcd.endpoints[0]}`], /--from: .* does not exist/],
      [['--from', `sqlite:${join(dataDir, 'polly.db')}`, '--to', 'redis:localhost:6379'], /--to: "redis" is not a store type/],
      [['--from', `sqlite:${join(dataDir, 'polly.db')}`, '--to', 'etcd:localhost'], /--to: "localhost" is not an etcd client URL/],
    ];
    for (const [args, message] of cases) {
      const res = await cliRun(null, ['store', 'migrate', ...args]);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, message);
    }
  });
});
