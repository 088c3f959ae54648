import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { GroupCommit, type WriteJob } from './group-commit.js';
import { migrate } from './migrations.js';

function setup() {
  const db = new Database(':memory:');
  migrate(db, ':memory:');
  const insert = db.prepare('INSERT INTO kv (key, value, revision) VALUES (?, ?, ?)');
  const write = (key: string, fail = false): WriteJob<number> => ({
    apply(current) {
      insert.run(key, '1', current + 1);
      if (fail) throw new Error(`job ${key} failed`);
      return { commit: true, result: current + 1 };
    },
  });
  return { db, group: new GroupCommit(db, (e) => e as Error), write };
}

describe('GroupCommit', () => {
  it('rolls back a throwing write alone; the rest of the batch commits', async () => {
    const { db, group, write } = setup();
    const [a, b, c] = await Promise.allSettled([group.submit(write('a')), group.submit(write('b', true)), group.submit(write('c'))]);
    assert.deepEqual(a, { status: 'fulfilled', value: 1 });
    assert.equal(b.status, 'rejected');
    assert.deepEqual(c, { status: 'fulfilled', value: 2 });
    assert.deepEqual(db.prepare('SELECT key FROM kv ORDER BY key').pluck().all(), ['a', 'c']);
    assert.equal(db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck().get(), 2);
    db.close();
  });

  it('rejects the whole batch when SQLite abandons the transaction', async () => {
    const { db, group, write } = setup();
    const abandon: WriteJob<number> = {
      apply() {
        db.exec('ROLLBACK'); // what SQLite does by itself on e.g. SQLITE_FULL
        throw new Error('disk full');
      },
    };
    const results = await Promise.allSettled([group.submit(write('a')), group.submit(abandon), group.submit(write('c'))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    assert.equal(db.prepare('SELECT count(*) FROM kv').pluck().get(), 0);
    assert.equal(db.inTransaction, false);
    // The queue still works afterwards.
    assert.equal(await group.submit(write('d')), 1);
    db.close();
  });

  it('settles nothing before the commit and flushes on demand', async () => {
    const { db, group, write } = setup();
    let settled = false;
    const p = group.submit(write('k')).then(() => (settled = true));
    assert.equal(db.prepare('SELECT count(*) FROM kv').pluck().get(), 0);
    group.flush();
    await p;
    assert.equal(settled, true);
    assert.equal(db.prepare('SELECT count(*) FROM kv').pluck().get(), 1);
    db.close();
  });

  it('settles durable writes only after the WAL sync, deferred ones at COMMIT; a failed sync rejects the durable ones', async () => {
    const db = new Database(':memory:');
    migrate(db, ':memory:');
    const syncs: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const group = new GroupCommit(db, (e) => e as Error, () => new Promise<void>((resolve, reject) => syncs.push({ resolve, reject })));
    const insert = db.prepare('INSERT INTO kv (key, value, revision) VALUES (?, ?, ?)');
    const job = (key: string, deferred: boolean): WriteJob<string> => ({
      deferred,
      apply(current) {
        insert.run(key, '1', current + 1);
        return { commit: true, result: key };
      },
    });
    const settled: string[] = [];
    const track = (p: Promise<string>) => p.then((k) => settled.push(k), (e: Error) => settled.push(`${e.message}`));
    const batch = [track(group.submit(job('a', false))), track(group.submit(job('b', true))), track(group.submit(job('c', false)))];
    group.flush();
    await new Promise((r) => setImmediate(r));
    assert.equal(Number(db.pragma('synchronous', { simple: true })), 1, 'SQLite itself never syncs a commit (NORMAL)');
    assert.deepEqual(settled, ['b'], 'the deferred write settles at COMMIT, the durable ones wait');
    assert.equal(syncs.length, 1, 'one sync for the batch');
    syncs[0]!.resolve();
    await Promise.all(batch);
    assert.deepEqual(settled, ['b', 'a', 'c']);

    const failing = [track(group.submit(job('d', false))), track(group.submit(job('e', true)))];
    group.flush();
    syncs[1]!.reject(new Error('EIO'));
    await Promise.all(failing);
    assert.deepEqual(settled.slice(3), ['e', 'EIO']);

    assert.equal(await group.submit(job('f', true)), 'f', 'a batch of deferred writes needs no sync');
    assert.equal(syncs.length, 2);
    db.close();
  });

  it('answers a staged write at COMMIT, with the durability promise of its batch', async () => {
    const db = new Database(':memory:');
    migrate(db, ':memory:');
    let finishSync!: () => void;
    let syncs = 0;
    const group = new GroupCommit(db, (e) => e as Error, () => new Promise<void>((resolve) => { syncs++; finishSync = resolve; }));
    const insert = db.prepare('INSERT INTO kv (key, value, revision) VALUES (?, ?, ?)');
    const job = (key: string, deferred = false): WriteJob<number> => ({
      deferred,
      apply(current) {
        insert.run(key, '1', current + 1);
        return { commit: true, result: current + 1 };
      },
    });
    const plain = group.submit(job('a'));
    const staged = group.submitStaged(job('b'));
    const stagedDeferred = group.submitStaged(job('c', true));
    group.flush();
    const { result, durable } = await staged;
    assert.equal(result, 2, 'the revision is known at COMMIT');
    assert.equal((await stagedDeferred).result, 3);
    await (await stagedDeferred).durable; // a deferred write needs no sync
    let synced = false;
    void durable.then(() => (synced = true));
    let plainDone = false;
    void plain.then(() => (plainDone = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(synced || plainDone, false, 'nothing durable settles before the sync');
    assert.equal(syncs, 1);
    finishSync();
    await durable;
    assert.equal(await plain, 1);
    db.close();
  });
});

