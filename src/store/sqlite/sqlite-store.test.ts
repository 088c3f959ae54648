import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { PollyError } from '../../core/errors.js';
import { storeContract } from '../store-contract.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
import { prefixEnd } from './prefix-end.js';
import { SqliteStore } from './sqlite-store.js';

const contractDir = mkdtempSync(join(tmpdir(), 'polly-store-contract-'));
storeContract(
  'sqlite',
  async () => SqliteStore.open(join(contractDir, 'polly.db')),
  async () => rmSync(contractDir, { recursive: true, force: true }),
);

describe('SqliteStore', () => {
  let dir: string;
  let n = 0;
  const file = () => join(dir, `store-${++n}.db`);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'polly-sqlite-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs in WAL mode with WAL syncs for durable writes and a busy timeout', async () => {
    const store = SqliteStore.open(file(), { busyTimeoutMs: 1234 });
    const d = store.diagnostics();
    assert.equal(d.journalMode, 'wal');
    assert.equal(d.synchronous, 1);
    assert.equal(d.durability, 'wal-sync');
    assert.equal(d.busyTimeoutMs, 1234);
    assert.equal(d.schemaVersion, LATEST_SCHEMA_VERSION);
    await store.close();
  });

  it('keeps acknowledged writes across a reopen, and the revision continues', async () => {
    const path = file();
    const first = SqliteStore.open(path);
    const r = await first.txn({ compares: [], ops: [{ type: 'put', key: 'v/1', value: { size: 10 } }] });
    await first.close();

    const second = SqliteStore.open(path);
    assert.deepEqual(await second.get('v/1'), { key: 'v/1', value: { size: 10 }, revision: r.revision });
    const next = await second.txn({ compares: [{ key: 'v/1', revision: r.revision }], ops: [{ type: 'delete', key: 'v/1' }] });
    assert.equal(next.revision, r.revision + 1);
    await second.close();
  });

  it('migrations run once: reopening leaves the schema and data as they were', async () => {
    const path = file();
    const store = SqliteStore.open(path);
    await store.txn({ compares: [], ops: [{ type: 'put', key: 'k', value: 1 }] });
    await store.close();
    const again = SqliteStore.open(path);
    assert.equal(again.diagnostics().schemaVersion, LATEST_SCHEMA_VERSION);
    assert.equal(await again.count(''), 1);
    await again.close();
  });

  it('migrations are numbered 1, 2, 3, … in order', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
  });

  it('refuses a file written by a newer schema', async () => {
    const path = file();
    await SqliteStore.open(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(
      () => SqliteStore.open(path),
      (e: unknown) => e instanceof PollyError && e.code === 'FAILED_PRECONDITION' && /newer/.test(e.message),
    );
  });

  it('reports an unopenable path as UNAVAILABLE', () => {
    assert.throws(
      () => SqliteStore.open(join(dir, 'no', 'such', 'dir', 'x.db')),
      (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE',
    );
  });

  it('group commit: 500 concurrent txns all commit with distinct, consecutive revisions', async () => {
    const store = SqliteStore.open(file());
    const start = store.diagnostics().revision;
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => store.txn({ compares: [], ops: [{ type: 'put', key: `k/${i}`, value: i }] })),
    );
    assert.ok(results.every((r) => r.ok));
    // Queue order is call order, so revisions follow it.
    assert.deepEqual(
      results.map((r) => r.revision),
      results.map((_, i) => start + i + 1),
    );
    assert.equal(store.diagnostics().revision, start + 500);
    assert.equal(await store.count('k/'), 500);
    await store.close();
  });

  it('group commit: a failing request in a batch is rolled back alone', async () => {
    const store = SqliteStore.open(file());
    const [a, b, c] = await Promise.all([
      store.txn({ compares: [{ key: 'x', revision: 0 }], ops: [{ type: 'put', key: 'x', value: 'a' }] }),
      store.txn({ compares: [{ key: 'x', revision: 0 }], ops: [{ type: 'put', key: 'x', value: 'b' }, { type: 'put', key: 'y', value: 'b' }] }),
      store.txn({ compares: [], ops: [{ type: 'put', key: 'z', value: 'c' }] }),
    ]);
    assert.deepEqual([a.ok, b.ok, c.ok], [true, false, true]);
    assert.equal(b.revision, a.revision);
    assert.equal(c.revision, a.revision + 1);
    assert.equal((await store.get('x'))?.value, 'a');
    assert.equal(await store.get('y'), undefined);
    await store.close();
  });

  it('pages through 100,000 records written by concurrent transactions', async () => {
    const store = SqliteStore.open(file());
    const value = { id: '', name: 'volume', sizeBytes: 1 << 30, labels: { tier: 'gold', zone: 'a' }, state: 'available' };
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 100_000; i += 1000) {
      const ops = Array.from({ length: 1000 }, (_, j) => {
        const id = `vol-${String(i + j).padStart(6, '0')}`;
        return { type: 'put' as const, key: `volumes/${id}`, value: { ...value, id } };
      });
      writes.push(store.txn({ compares: [], ops }));
    }
    const revisions = (await Promise.all(writes)).map((r) => (r as { revision: number }).revision);
    assert.deepEqual(revisions, revisions.map((_, i) => i + 1), 'one revision per transaction, in submission order');
    let pages = 0;
    let seen = 0;
    let after: string | undefined;
    do {
      const page = await store.list('volumes/', { after, limit: 1000 });
      after = page.next;
      seen += page.records.length;
      pages++;
    } while (after !== undefined);
    assert.equal(pages, 100);
    assert.equal(seen, 100_000);
    await store.close();
  });

  it('a write is readable once acknowledged; a failed WAL sync makes the store unready and refuses every later write', async () => {
    const path = file();
    const store = SqliteStore.open(path);
    const put = (key: string) => store.txn({ compares: [], ops: [{ type: 'put', key, value: { key } }] });
    await Promise.all(Array.from({ length: 50 }, (_, i) => put(`k/${i}`).then(async () => assert.ok(await store.get(`k/${i}`), `k/${i} readable after its ack`))));
    assert.equal(await store.ready(), true);
    // White-box: the next fdatasync goes to a closed descriptor and fails, as an EIO would.
    const closed = await open(`${path}-wal`, 'r');
    await closed.close();
    (store as unknown as { writes: { wal: { handle: Promise<FileHandle> } } }).writes.wal.handle = Promise.resolve(closed);
    await assert.rejects(put('unsynced'), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE' && /write-ahead log/.test(e.message));
    assert.equal(await store.ready(), false);
    await assert.rejects(put('after'), (e: unknown) => e instanceof PollyError && e.code === 'UNAVAILABLE');
    assert.equal(await store.get('after'), undefined, 'a refused write is not written');
    await store.close();
  });

  it('a store nobody closed does not keep a finished process alive, and its acknowledged writes are there', async () => {
    const path = file();
    const module = new URL('./sqlite-store.js', import.meta.url).href;
    const script = `const { SqliteStore } = await import(${JSON.stringify(module)});
      const s = SqliteStore.open(${JSON.stringify(path)});
      await s.txn({ compares: [], ops: [{ type: 'put', key: 'left/open', value: 1 }] });`;
    const scriptFile = join(dir, 'left-open.mjs');
    writeFileSync(scriptFile, script);
    const child = spawnSync(process.execPath, [scriptFile], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(child.error, undefined, 'the process ended by itself');
    assert.equal(child.status, 0, child.stderr);
    const store = SqliteStore.open(path);
    assert.equal((await store.get('left/open'))?.value, 1);
    await store.close();
  });

  it('works in memory', async () => {
    const store = SqliteStore.open(':memory:');
    assert.equal((await store.txn({ compares: [], ops: [{ type: 'put', key: 'k', value: 1 }] })).revision, 1);
    await store.close();
  });
});

describe('prefixEnd', () => {
  it('increments the last code point', () => {
    assert.equal(prefixEnd('a/'), 'a0');
    assert.equal(prefixEnd('é'), 'ê');
    assert.equal(prefixEnd('a\uD7FF'), 'a\uE000');
    assert.equal(prefixEnd('a\uFFFF'), 'a\u{10000}');
  });

  it('drops trailing U+10FFFF and has no bound for the empty prefix', () => {
    assert.equal(prefixEnd('a\u{10FFFF}\u{10FFFF}'), 'b');
    assert.equal(prefixEnd('\u{10FFFF}'), undefined);
    assert.equal(prefixEnd(''), undefined);
  });
});
