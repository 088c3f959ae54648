import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { closedPort, startFakeServer, type FakeServer } from '../client/testing/fake-server.js';
import type { ServerStartOptions } from './app.js';
import { run, type RunOptions } from './testing/capture.js';
import { standardRoutes } from './testing/routes.js';

describe('polly service, pool, snapshot, version, env, server', () => {
  let fake: FakeServer;
  before(async () => {
    fake = await startFakeServer(standardRoutes());
  });
  after(() => fake.close());
  const polly = (args: string[], opts: RunOptions = {}) => run(['--host', fake.url, ...args], opts);
  const lastSent = () => fake.requests[fake.requests.length - 1]!;

  it('service ls as YAML and table', async () => {
    const y = await polly(['service', 'ls']);
    assert.equal(y.code, 0, y.stderr);
    assert.deepEqual((parse(y.stdout) as { name: string }[]).map((s) => s.name), ['local', 'fast', 'bare']);
    const t = await polly(['service', 'list', '--format', 'table']);
    assert.match(t.stdout, /^NAME\s+DRIVER\s+POOLS\s+VOLUMES\s+USED\s+DEFAULT SIZE\s+DEFAULT TYPE\nlocal\s+dir\s+p1\s+2\s+20Gi\s+1Gi\s+-\n/);
  });

  it('pool ls --servicename filters by service', async () => {
    const r = await polly(['pool', 'ls', '--servicename', 'fast']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastSent().query.get('service'), 'fast');
    assert.deepEqual((parse(r.stdout) as { name: string }[]).map((p) => p.name), ['ssd']);
    const t = await polly(['pool', 'ls', '--format=table']);
    assert.match(t.stdout, /^SERVICE\s+NAME\s+ZONE\s+NODE\s+TYPES\s+CAPACITY\s+PROVISIONED\s+FREE\s+VOLUMES\nlocal\s+p1\s+-\s+-\s+gold\s+200Gi\s+20Gi\s+80Gi\s+2\n/);
  });

  it('snapshot ls passes --volumeid and --servicename', async () => {
    const r = await polly(['snapshot', 'ls', '--volumeid', 'vol-1', '--servicename', 'local']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastSent().query.get('volume'), 'vol-1');
    assert.equal(lastSent().query.get('service'), 'local');
    assert.equal((parse(r.stdout) as unknown[]).length, 2);
  });

  it('snapshot rm <id> and inspect <id>', async () => {
    const r = await polly(['snapshot', 'rm', 'snap-2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastSent().method, 'DELETE');
    assert.equal(lastSent().path, '/v1/snapshots/snap-2');
    assert.equal((await polly(['snapshot', 'rm'])).code, 2, 'id is required');
    const missing = await polly(['snapshot', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: snapshot "nope" not found \(NOT_FOUND\)/);
  });

  it('version prints the client and server versions', async () => {
    const r = await polly(['version']);
    assert.equal(r.code, 0, r.stderr);
    const v = parse(r.stdout) as { client: { version: string; node: string }; server: { version: string; store: string; url: string } };
    assert.equal(v.client.version, '0.2.0');
    assert.equal(v.client.node, process.version);
    assert.equal(v.server.version, '0.2.0');
    assert.equal(v.server.store, 'sqlite');
    assert.equal(v.server.url, fake.url);
  });

  it('version still prints the client when the server is down (exit 1)', async () => {
    const port = await closedPort();
    const r = await run(['--host', `127.0.0.1:${port}`, 'version']);
    assert.equal(r.code, 1);
    const v = parse(r.stdout) as { client: { version: string }; server: { error: string } };
    assert.equal(v.client.version, '0.2.0');
    assert.match(v.server.error, /ECONNREFUSED/);
  });

  it('env prints effective settings and the POLLY_* environment, secrets redacted', async () => {
    const r = await run(['--format', 'yaml', 'env'], { env: { POLLY_HOST: 'tcp://polly.example:7979', POLLY_TOKEN: 'abc', HOME: '/root', POLLY_DATA_DIR: '/var/lib/polly' } });
    assert.equal(r.code, 0, r.stderr);
    const e = parse(r.stdout) as { settings: Record<string, string>; environment: Record<string, string> };
    assert.equal(e.settings.host, 'http://polly.example:7979');
    assert.equal(e.settings.hostFrom, 'POLLY_HOST');
    assert.equal(e.settings.token, '(set, redacted)');
    assert.equal(e.settings.formatFrom, '--format');
    assert.deepEqual(e.environment, { POLLY_DATA_DIR: '/var/lib/polly', POLLY_HOST: 'tcp://polly.example:7979', POLLY_TOKEN: '(redacted)' });
    assert.doesNotMatch(r.stdout, /abc/);
  });

  it('env as a table flattens to KEY VALUE rows', async () => {
    const r = await run(['env', '--format', 'table'], {});
    assert.match(r.stdout, /^KEY\s+VALUE\nsettings\.host\s+http:\/\/127\.0\.0\.1:7978\n/);
  });

  it('server calls the injected startServer with config, data dir, host and log level', async () => {
    const calls: ServerStartOptions[] = [];
    const hooks = { startServer: async (o: ServerStartOptions) => void calls.push(o) };
    const r = await run(['server', '-c', '/etc/polly/config.yml', '--data-dir', '/tmp/p', '--host', 'tcp://0.0.0.0:7978', '-l', 'debug'], { hooks });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls, [{ config: '/etc/polly/config.yml', dataDir: '/tmp/p', host: 'tcp://0.0.0.0:7978', logLevel: 'debug' }]);
    const bare = await run(['server'], { hooks });
    assert.equal(bare.code, 0);
    assert.deepEqual(calls[1], {});
  });

  it('start -f (2016) runs the server; start without -f is a usage error', async () => {
    const calls: ServerStartOptions[] = [];
    const hooks = { startServer: async (o: ServerStartOptions) => void calls.push(o) };
    const r = await run(['start', '-f', '-l', 'debug'], { hooks, env: { POLLY_HOST: 'tcp://127.0.0.1:7979' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls, [{ host: 'tcp://127.0.0.1:7979', logLevel: 'debug' }]);
    const bg = await run(['start'], { hooks });
    assert.equal(bg.code, 2);
    assert.match(bg.stderr, /polly start -f/);
    assert.equal(calls.length, 1);
  });

  it('server without a wired server, or failing to start, exits 1', async () => {
    const none = await run(['server']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /cannot start a server/);
    const failing = await run(['server'], { hooks: { startServer: async () => Promise.reject(new Error('address in use')) } });
    assert.equal(failing.code, 1);
    assert.equal(failing.stderr, 'Error: address in use\n');
  });
});
