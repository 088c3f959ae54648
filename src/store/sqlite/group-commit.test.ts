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

  it('commits a batch of deferred writes with synchronous=NORMAL and any batch with a durable write with FULL', async () => {
    const { db, group } = setup();
    const insert = db.prepare('INSERT INTO kv (key, value, revision) VALUES (?, ?, ?)');
    // What SQLite will do at COMMIT is the connection's setting while the batch runs.
    const probe = (key: string, deferred: boolean): WriteJob<number> => ({
      deferred,
      apply(current) {
        insert.run(key, '1', current + 1);
        return { commit: true, result: Number(db.pragma('synchronous', { simple: true })) };
      },
    });
    const NORMAL = 1;
    const FULL = 2;
    assert.deepEqual(await Promise.all([group.submit(probe('a', true)), group.submit(probe('b', true))]), [NORMAL, NORMAL]);
    assert.deepEqual(await Promise.all([group.submit(probe('c', true)), group.submit(probe('d', false))]), [FULL, FULL]);
    assert.equal(await group.submit(probe('e', false)), FULL);
    assert.equal(await group.submit(probe('f', true)), NORMAL);
    assert.equal(db.prepare('SELECT count(*) FROM kv').pluck().get(), 6);
    db.close();
  });
});
