import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { closedPort } from '../client/testing/fake-server.js';
import { useFakePolly } from './testing/fake-polly.js';
import { run } from './testing/capture.js';

describe('polly (global options, output, errors)', () => {
  const f = useFakePolly();
  const first = () => f.sent()[0]!;

  it('accepts the 2016 tcp://host:port form in --host', async () => {
    const r = await run(['--host', `tcp://127.0.0.1:${f.fake.port}`, 'service', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(first().path, '/v1/services');
  });

  it('accepts host:port, and --host after the subcommand', async () => {
    const r = await run(['service', 'ls', `--host=127.0.0.1:${f.fake.port}`]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('reads POLLY_HOST, POLLY_TOKEN and POLLY_FORMAT from the environment', async () => {
    const r = await run(['service', 'ls'], { env: { POLLY_HOST: `tcp://127.0.0.1:${f.fake.port}`, POLLY_TOKEN: 'env-token', POLLY_FORMAT: 'json' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(first().headers.authorization, 'Bearer env-token');
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 3);
  });

  it('flags win over the environment', async () => {
    const r = await run(['--host', f.fake.url, '--token', 'flag-token', '--format', 'yaml', 'service', 'ls'], {
      env: { POLLY_HOST: 'tcp://127.0.0.1:1', POLLY_TOKEN: 'env-token', POLLY_FORMAT: 'json' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(first().headers.authorization, 'Bearer flag-token');
    assert.ok(Array.isArray(parse(r.stdout)));
  });

  it('sends no Authorization header without a token', async () => {
    await run(['--host', f.fake.url, 'service', 'ls']);
    assert.equal(first().headers.authorization, undefined);
  });

  it('rejects an unknown format (exit 2)', async () => {
    const r = await run(['--host', f.fake.url, '--format', 'xml', 'service', 'ls']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--format: "xml" is not a format; use one of yaml, json, table/);
    const e = await run(['--host', f.fake.url, 'service', 'ls'], { env: { POLLY_FORMAT: 'csv' } });
    assert.equal(e.code, 2);
    assert.match(e.stderr, /POLLY_FORMAT: "csv"/);
  });

  it('rejects an unsupported host scheme (exit 2)', async () => {
    const r = await run(['--host', 'unix:///run/polly.sock', 'volume', 'get']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: invalid Polly host "unix:\/\/\/run\/polly.sock": unix sockets are not supported/);
  });

  it('rejects an unknown log level (exit 2)', async () => {
    const r = await run(['--host', f.fake.url, '-l', 'loud', 'volume', 'get']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--logLevel: "loud" is not a log level/);
  });

  it('logs each request at -l debug', async () => {
    const r = await run(['--host', f.fake.url, '-l', 'debug', 'service', 'ls']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^debug: GET http:\/\/127\.0\.0\.1:\d+\/v1\/services → 200 \(\d+ ms\)$/m);
  });

  it('says it cannot reach the server (exit 1)', async () => {
    const port = await closedPort();
    const r = await run(['--host', `tcp://127.0.0.1:${port}`, 'volume', 'get']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^Error: cannot reach Polly at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\n`));
    assert.doesNotMatch(r.stderr, /\.js:\d+/, 'no stack trace');
  });

  it('unknown commands and options are usage errors (exit 2)', async () => {
    assert.equal((await run(['frobnicate'])).code, 2);
    const r = await run(['volume', 'get', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--bogus'/);
    assert.equal((await run(['volume'])).code, 2, 'a group without its subcommand');
    assert.equal((await run(['volume', 'inspect', 'a', 'b'])).code, 2, 'excess arguments');
  });

  it('--help prints usage and exits 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: polly/);
    for (const c of ['volume', 'snapshot', 'service', 'pool', 'store', 'version', 'env', 'server', 'start']) {
      assert.match(r.stdout, new RegExp(`\\n  ${c}\\b`), c);
    }
    const sub = await run(['volume', 'create', '--help']);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /--availabilityzone <zone>/);
    assert.match(sub.stdout, /Global Options:[\s\S]*--host/);
  });
});
