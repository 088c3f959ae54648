import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sandbox, yaml } from './test-kit.js';

describe('store.type: etcd', () => {
  const box = sandbox();
  after(() => box.cleanup());

  test('endpoints, prefix, tls, auth and timings, with defaults', () => {
    const ca = box.write('ca.pem', 'x');
    const cert = box.write('client.pem', 'x');
    const key = box.write('client-key.pem', 'x');
    const c = box.load({ configFile: box.write('full.yml', yaml(`
      store:
        type: etcd
        endpoints: [etcd-1:2379, "https://10.0.0.2:2379"]
        prefix: /polly-prod/
        tls: { ca: ${ca}, cert: ${cert}, key: ${key} }
        auth: { username: polly, password: s3cret-pass }
        timeout: 2s
        leaseTtl: 5s
        maxTxnOps: 1024
    `)) });
    assert.deepEqual(c.store, {
      type: 'etcd', endpoints: ['https://etcd-1:2379', 'https://10.0.0.2:2379'], prefix: '/polly-prod/',
      tls: { ca, cert, key }, auth: { username: 'polly', password: 's3cret-pass' }, timeoutMs: 2000, leaseTtlMs: 5000, maxTxnOps: 1024,
    });
    const d = box.load({ env: { POLLY_STORE_TYPE: 'etcd', POLLY_STORE_ENDPOINTS: '127.0.0.1:2379, http://127.0.0.1:22379' } });
    assert.deepEqual(d.store, {
      type: 'etcd', endpoints: ['http://127.0.0.1:2379', 'http://127.0.0.1:22379'], prefix: '/polly/', timeoutMs: 5000, leaseTtlMs: 2000, maxTxnOps: 128,
    });
  });

  test("the 2016 layout's polly.store with type etcd and endpoints", () => {
    const c = box.load({ configFile: box.write('2016.yml', yaml(`
      polly:
        store:
          type: etcd
          endpoints: [10.50.0.1:2379, 10.50.0.2:2379]
          bucket: polly
      libstorage:
        server:
          services:
            a: { driver: dir }
    `)) });
    assert.deepEqual(c.store.type === 'etcd' && c.store.endpoints, ['http://10.50.0.1:2379', 'http://10.50.0.2:2379']);
    assert.deepEqual(c.warnings, ['polly.store.bucket: ignored (the etcd store uses store.prefix)']);
  });

  test('wrong settings are named, all at once, never echoing the password', () => {
    const e = box.fail({ configFile: box.write('bad.yml', yaml(`
      store:
        type: etcd
        endpoints: ["https://a:2379", "b", "http://c:1/path"]
        auth: { username: polly, password: very-secret-password }
        leaseTtl: 1500ms
        timeout: 10ms
        path: x.db
    `)) });
    const problems = e.problems.map((p) => `${p.path}: ${p.message}`);
    for (const expected of [
      /^store\.endpoints\[0\]: "https:\/\/a:2379" asks for TLS but store\.tls is not set/,
      /^store\.endpoints\[1\]: "b" is not an etcd client URL/,
      /^store\.endpoints\[2\]: "http:\/\/c:1\/path" is not an etcd client URL/,
      /^store\.leaseTtl: "1500ms" is not whole seconds/,
      /^store\.timeout: "10ms" is too short/,
      /^store\.path: is a sqlite setting/,
    ]) assert.ok(problems.some((p) => expected.test(p)), `${String(expected)} in\n${problems.join('\n')}`);
    assert.ok(!e.message.includes('very-secret-password'));
    const schema = box.fail({ configFile: box.write('schema.yml', 'store: { type: etcd, endpoints: a:1, maxTxnOps: 2, prefix: /no-slash, auth: { username: u, password: 7 } }\n') });
    assert.deepEqual(schema.problems.map((p) => p.path).sort(), ['store.auth.password', 'store.maxTxnOps', 'store.prefix']);
  });

  test('etcd settings with the sqlite store are refused', () => {
    const e = box.fail({ configFile: box.write('mixed.yml', 'store: { endpoints: [a:1], prefix: /p/ }\n') });
    assert.deepEqual(e.problems.map((p) => p.path).sort(), ['store.endpoints', 'store.prefix']);
    assert.match(e.problems[0]!.message, /is an etcd setting but store\.type is "sqlite"/);
  });
});
