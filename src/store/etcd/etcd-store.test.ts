import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PollyError } from '../../core/errors.js';
import type { StoreEvent } from '../../core/ports/store.js';
import { storeContract } from '../store-contract.js';
import { bytePrefixEnd } from './byte-prefix-end.js';
import { EtcdStore } from './etcd-store.js';
import { startEtcdCluster, waitHealthy, type EtcdCluster } from './testing/etcd-cluster.js';
import { makeTestCertificates } from './testing/test-certificates.js';

// One real single-member etcd for this file; the contract suite and the tests below use their
// own key prefixes on it.
const cluster: Promise<EtcdCluster> = startEtcdCluster();
const opened: EtcdStore[] = [];
const open = async (prefix = '/polly-contract/') => {
  const store = EtcdStore.open({ endpoints: (await cluster).endpoints, prefix, maxTxnOps: 1024, timeoutMs: 3000 });
  opened.push(store);
  return store;
};

storeContract('etcd', () => open(), async () => {
  for (const s of opened) await s.close();
});

describe('EtcdStore', () => {
  after(async () => {
    for (const s of opened) await s.close();
    await (await cluster).stop();
  });

  it('keeps to its prefix: two prefixes never see each other', async () => {
    const a = await open('/tenant-a/');
    const b = await open('/tenant-b/');
    await a.txn({ compares: [], ops: [{ type: 'put', key: 'k', value: 'a' }] });
    assert.equal(await b.get('k'), undefined);
    assert.equal(await b.count(''), 0);
    assert.equal(await b.erase(''), 0);
    assert.equal((await a.get('k'))?.value, 'a');
  });

  it('keeps coordination keys beside the data prefix, out of reach of erase and count', async () => {
    const store = await open('/coord/');
    assert.equal(store.coordinationPrefix, '/coord.election/');
    await store.client.put('/coord.election/leader/x').value('me');
    assert.equal(await store.count(''), 0);
    await store.erase('');
    assert.equal(await store.client.get('/coord.election/leader/x').string(), 'me');
    await store.client.delete().key('/coord.election/leader/x');
    assert.throws(() => EtcdStore.open({ endpoints: ['http://127.0.0.1:1'], prefix: '/no-slash' }), (e: unknown) => e instanceof PollyError && e.code === 'INVALID_ARGUMENT');
  });

  it('refuses a transaction larger than maxTxnOps with INVALID_ARGUMENT', async () => {
    const small = EtcdStore.open({ endpoints: (await cluster).endpoints, prefix: '/small/', maxTxnOps: 2 });
    opened.push(small);
    const ops = ['a', 'b', 'c'].map((key) => ({ type: 'put' as const, key, value: 1 }));
    await assert.rejects(small.txn({ compares: [], ops }), (e: unknown) => e instanceof PollyError && e.code === 'INVALID_ARGUMENT' && /maxTxnOps/.test(e.message));
    assert.equal(await small.count(''), 0);
  });

  it('watch reports later puts and deletes under its prefix, in order', async () => {
    const store = await open('/watch/');
    await store.txn({ compares: [], ops: [{ type: 'put', key: 'w/before', value: 0 }] });
    const seen: StoreEvent[] = [];
    const stop = await store.watch('w/', (e) => seen.push(e));
    const r1 = await store.txn({ compares: [], ops: [{ type: 'put', key: 'w/a', value: { n: 1 } }, { type: 'put', key: 'x/ignored', value: 1 }] });
    const r2 = await store.txn({ compares: [], ops: [{ type: 'delete', key: 'w/a' }] });
    const deadline = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await stop();
    assert.deepEqual(seen, [
      { type: 'put', key: 'w/a', value: { n: 1 }, revision: r1.revision },
      { type: 'delete', key: 'w/a', revision: r2.revision },
    ]);
  });

  it('an unreachable cluster fails fast with a retryable UNAVAILABLE', async () => {
    const dead = EtcdStore.open({ endpoints: ['http://127.0.0.1:1'], timeoutMs: 1000 });
    const t0 = Date.now();
    await assert.rejects(dead.txn({ compares: [], ops: [{ type: 'put', key: 'k', value: 1 }] }), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE' && e.retryable);
    await assert.rejects(dead.get('k'), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE');
    assert.equal(await dead.ready(), false);
    assert.ok(Date.now() - t0 < 10_000);
    await dead.close();
  });
});

describe('EtcdStore watch across an etcd restart', () => {
  it('calls onResync after the reconnect and goes on delivering events', async () => {
    const restartable = await startEtcdCluster();
    const store = EtcdStore.open({ endpoints: restartable.endpoints, timeoutMs: 2000 });
    try {
      const seen: StoreEvent[] = [];
      let resyncs = 0;
      const stop = await store.watch('r/', (e) => seen.push(e), () => resyncs++);
      await restartable.members[0]!.stop();
      await new Promise((r) => setTimeout(r, 500));
      await restartable.members[0]!.start();
      await waitHealthy(restartable.members[0]!);
      const deadline = Date.now() + 15_000;
      let written: number | undefined;
      while (Date.now() < deadline && (resyncs === 0 || !seen.some((e) => e.revision === written))) {
        if (written === undefined) written = await store.txn({ compares: [], ops: [{ type: 'put', key: 'r/after', value: 1 }] }).then((r) => r.revision, () => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
      await stop();
      assert.ok(resyncs >= 1, 'onResync was called');
      assert.ok(seen.some((e) => e.type === 'put' && e.key === 'r/after' && e.revision === written), `the put after the restart was delivered: ${JSON.stringify(seen)}`);
    } finally {
      await store.close();
      await restartable.stop();
    }
  });
});

describe('EtcdStore with etcd authentication', () => {
  it('works with the right user and password; refused credentials are UNAVAILABLE and not retryable', async () => {
    const secured = await startEtcdCluster();
    const admin = new Etcd3({ hosts: secured.endpoints });
    const stores: EtcdStore[] = [];
    try {
      await admin.role('root').create();
      await admin.user('root').create('root-password');
      await admin.user('root').addRole('root');
      await admin.role('polly').create();
      await admin.role('polly').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/polly/' }) });
      await admin.user('polly').create('polly-password');
      await admin.user('polly').addRole('polly');
      await admin.auth.authEnable();

      const good = EtcdStore.open({ endpoints: secured.endpoints, auth: { username: 'polly', password: 'polly-password' } });
      stores.push(good);
      assert.equal((await good.txn({ compares: [{ key: 'k', revision: 0 }], ops: [{ type: 'put', key: 'k', value: 1 }] })).ok, true);
      assert.equal((await good.get('k'))?.value, 1);

      const wrong = EtcdStore.open({ endpoints: secured.endpoints, auth: { username: 'polly', password: 'not-the-password' }, prefix: '/polly/' });
      stores.push(wrong);
      await assert.rejects(wrong.get('k'), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE' && !e.retryable && /credentials/.test(e.message));
      // A user without rights outside its prefix.
      const outside = EtcdStore.open({ endpoints: secured.endpoints, auth: { username: 'polly', password: 'polly-password' }, prefix: '/other/' });
      stores.push(outside);
      await assert.rejects(outside.txn({ compares: [], ops: [{ type: 'put', key: 'k', value: 1 }] }), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE' && !e.retryable);
    } finally {
      for (const s of stores) await s.close();
      admin.close();
      await secured.stop();
    }
  });
});

describe('EtcdStore over TLS with client certificates', () => {
  it('connects with the CA and a client certificate; without the client certificate it is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polly-etcd-tls-'));
    const stores: EtcdStore[] = [];
    let secured: EtcdCluster | undefined;
    try {
      const certs = makeTestCertificates(dir);
      secured = await startEtcdCluster({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
      assert.match(secured.endpoints[0]!, /^https:/);
      const ca = readFileSync(certs.ca);
      const good = EtcdStore.open({ endpoints: secured.endpoints, tls: { ca, cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } });
      stores.push(good);
      assert.equal((await good.txn({ compares: [], ops: [{ type: 'put', key: 'k', value: 'tls' }] })).ok, true);
      assert.equal((await good.get('k'))?.value, 'tls');
      const noClientCert = EtcdStore.open({ endpoints: secured.endpoints, tls: { ca }, timeoutMs: 2000 });
      stores.push(noClientCert);
      await assert.rejects(noClientCert.get('k'), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE');
    } finally {
      for (const s of stores) await s.close();
      await secured?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bytePrefixEnd', () => {
  it('increments the last byte below 0xff', () => {
    assert.deepEqual(bytePrefixEnd(Buffer.from('a/')), Buffer.from('a0'));
    assert.deepEqual(bytePrefixEnd(Buffer.from([0x61, 0xff, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(bytePrefixEnd(Buffer.from([0xff])), Buffer.from([0]));
    assert.deepEqual(bytePrefixEnd(Buffer.alloc(0)), Buffer.from([0]));
  });
});
