/**
 * The behaviour every Store implementation must have (see src/core/ports/store.ts). Call it from
 * the implementation's *.test.ts:
 *
 *   storeContract('sqlite', async () => SqliteStore.open(file), async () => rm(dir, ...));
 *
 * `open` may be called more than once and every call must reach the same data. Each test works
 * under its own prefix of a run-unique namespace (erased at the end), so the suite can run on a
 * shared backend, and no transaction has more than 100 ops (etcd's default limit is 128).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PollyError, type ErrorCode } from '../core/errors.js';
import { MAX_LIST_LIMIT, type Store, type TxnOp, type TxnRequest } from '../core/ports/store.js';

const rejectsWith = (promise: Promise<unknown>, code: ErrorCode) =>
  assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof PollyError, `expected a PollyError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function storeContract(name: string, open: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`Store contract: ${name}`, () => {
    const ns = `contract-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}/`;
    let seq = 0;
    /** A fresh prefix for one test. */
    const space = () => `${ns}${++seq}/`;
    let store: Store;

    before(async () => {
      store = await open();
    });
    after(async () => {
      if (store !== undefined) {
        await store.erase(ns);
        await store.close();
      }
      await cleanup?.();
    });

    const put = (key: string, value: unknown, compares: TxnRequest['compares'] = []) =>
      store.txn({ compares, ops: [{ type: 'put', key, value }] });

    /** Writes `value(key)` for every key, 100 keys per txn, the txns concurrently. */
    async function fill(keys: readonly string[], value: (key: string) => unknown = (key) => ({ key })): Promise<void> {
      const txns: Promise<unknown>[] = [];
      for (let i = 0; i < keys.length; i += 100) {
        const ops: TxnOp[] = keys.slice(i, i + 100).map((key) => ({ type: 'put', key, value: value(key) }));
        txns.push(store.txn({ compares: [], ops }).then((r) => assert.ok(r.ok)));
      }
      await Promise.all(txns);
    }

    async function listKeys(prefix: string, limit?: number): Promise<string[]> {
      const keys: string[] = [];
      let after: string | undefined;
      do {
        const page = await store.list(prefix, { after, limit });
        if (limit !== undefined) assert.ok(page.records.length <= limit);
        if (page.next !== undefined) assert.equal(page.next, page.records[page.records.length - 1].key);
        keys.push(...page.records.map((r) => r.key));
        after = page.next;
      } while (after !== undefined);
      return keys;
    }

    it('get of a missing key is undefined', async () => {
      assert.equal(await store.get(`${space()}missing`), undefined);
    });

    it('a put is read back with its value and the txn revision', async () => {
      const key = `${space()}k`;
      const value = { name: 'vol-1', size: 1.5e12, tags: ['a', 'ünï', '😀'], nested: { ok: true, none: null } };
      const r = await put(key, value);
      assert.equal(r.ok, true);
      assert.ok(Number.isSafeInteger(r.revision) && r.revision > 0);
      assert.deepEqual(await store.get(key), { key, value, revision: r.revision });
      for (const scalar of [0, 'text', false, null, [1, 2]]) {
        await put(key, scalar);
        assert.deepEqual((await store.get(key))?.value, scalar);
      }
    });

    it('each successful txn bumps the revision by exactly one; its puts get that revision', async () => {
      const p = space();
      const r1 = await store.txn({ compares: [], ops: [{ type: 'put', key: `${p}a`, value: 1 }, { type: 'put', key: `${p}b`, value: 2 }] });
      const r2 = await put(`${p}c`, 3);
      const r3 = await store.txn({ compares: [], ops: [{ type: 'delete', key: `${p}a` }] });
      assert.equal(r2.revision, r1.revision + 1);
      assert.equal(r3.revision, r2.revision + 1);
      assert.equal(await store.get(`${p}a`), undefined);
      assert.equal((await store.get(`${p}b`))?.revision, r1.revision);
      assert.equal((await store.get(`${p}c`))?.revision, r2.revision);
    });

    it('compare on revision 0 (create-only) succeeds once, then fails naming the key', async () => {
      const key = `${space()}once`;
      const first = await put(key, 'first', [{ key, revision: 0 }]);
      assert.equal(first.ok, true);
      const second = await put(key, 'second', [{ key, revision: 0 }]);
      assert.equal(second.ok, false);
      assert.deepEqual(second.failed, [key]);
      assert.equal(second.revision, first.revision);
      assert.deepEqual(await store.get(key), { key, value: 'first', revision: first.revision });
    });

    it('a txn with a stale compare applies none of its ops', async () => {
      const p = space();
      const setup = await store.txn({
        compares: [],
        ops: ['a', 'b', 'c'].map((k): TxnOp => ({ type: 'put', key: p + k, value: k })),
      });
      const bump = await put(`${p}b`, 'b2');
      const failed = await store.txn({
        compares: [{ key: `${p}a`, revision: setup.revision }, { key: `${p}b`, revision: setup.revision }],
        ops: [
          { type: 'put', key: `${p}a`, value: 'changed' },
          { type: 'delete', key: `${p}c` },
          { type: 'put', key: `${p}d`, value: 'new' },
        ],
      });
      assert.equal(failed.ok, false);
      assert.deepEqual(failed.failed, [`${p}b`]);
      assert.equal(failed.revision, bump.revision);
      assert.deepEqual(await store.get(`${p}a`), { key: `${p}a`, value: 'a', revision: setup.revision });
      assert.deepEqual(await store.get(`${p}c`), { key: `${p}c`, value: 'c', revision: setup.revision });
      assert.equal(await store.get(`${p}d`), undefined);
      // The failed txn did not use up a revision.
      assert.equal((await put(`${p}e`, 'e')).revision, bump.revision + 1);
    });

    it('failed names every key whose compare failed', async () => {
      const p = space();
      const r = await put(`${p}x`, 1);
      const res = await store.txn({
        compares: [
          { key: `${p}x`, revision: 0 },
          { key: `${p}y`, revision: r.revision },
          { key: `${p}z`, revision: 0 },
        ],
        ops: [{ type: 'put', key: `${p}z`, value: 1 }],
      });
      assert.equal(res.ok, false);
      assert.deepEqual([...(res.failed ?? [])].sort(), [`${p}x`, `${p}y`]);
    });

    it('delete removes a key, after which create-only succeeds again', async () => {
      const key = `${space()}k`;
      const created = await put(key, 1, [{ key, revision: 0 }]);
      const deleted = await store.txn({ compares: [{ key, revision: created.revision }], ops: [{ type: 'delete', key }] });
      assert.equal(deleted.ok, true);
      assert.equal(await store.get(key), undefined);
      assert.equal((await put(key, 2, [{ key, revision: 0 }])).ok, true);
    });

    it('list returns keys in ascending byte order', async () => {
      const p = space();
      // UTF-8 byte order; note UTF-16 order would put the emoji before U+FFFD.
      const expected = ['', 'B', 'a', 'a/b', 'a0', 'z', 'é', '\uFFFD', '😀'].map((k) => p + k);
      await fill(shuffled(expected));
      assert.deepEqual(await listKeys(p), expected);
      assert.deepEqual(await listKeys(p, 2), expected);
    });

    it('list pages through 2,500 keys with after/next, without duplicates or gaps', async () => {
      const p = space();
      const expected = Array.from({ length: 2500 }, (_, i) => `${p}${(i * 7919) % 10007}`.padEnd(p.length + 3 + (i % 5), '-')).sort();
      assert.equal(new Set(expected).size, 2500);
      await fill(shuffled(expected));
      const seen = await listKeys(p, 333);
      assert.deepEqual(seen, expected);
      const page = await store.list<{ key: string }>(p, { limit: 10 });
      for (const r of page.records) assert.deepEqual(r.value, { key: r.key });
      assert.equal(await store.count(p), 2500);
    });

    it('list and count do not mix prefixes (a/ vs ab/)', async () => {
      const p = space();
      await fill(['a', 'a/', 'a/x', 'a/y', 'a0', 'ab/x', 'b', 'é/1', 'ê/1'].map((k) => p + k));
      assert.deepEqual(await listKeys(`${p}a/`), [`${p}a/`, `${p}a/x`, `${p}a/y`]);
      assert.deepEqual(await listKeys(`${p}ab/`), [`${p}ab/x`]);
      assert.deepEqual(await listKeys(`${p}é`), [`${p}é/1`]);
      assert.equal(await store.count(`${p}a/`), 3);
      assert.equal(await store.count(`${p}a`), 6);
      assert.equal(await store.count(`${p}nothing/`), 0);
    });

    it('list honours an after outside the prefix', async () => {
      const p = space();
      await fill(['m/1', 'm/2'].map((k) => p + k));
      assert.deepEqual((await store.list(`${p}m/`, { after: `${p}a` })).records.map((r) => r.key), [`${p}m/1`, `${p}m/2`]);
      assert.deepEqual((await store.list(`${p}m/`, { after: `${p}m/1` })).records.map((r) => r.key), [`${p}m/2`]);
      assert.deepEqual((await store.list(`${p}m/`, { after: `${p}z` })).records, []);
    });

    it('list limit defaults to 1000, is capped at MAX_LIST_LIMIT, and must be positive', async () => {
      const p = space();
      await fill(Array.from({ length: MAX_LIST_LIMIT + 1 }, (_, i) => `${p}${String(i).padStart(6, '0')}`), () => 1);
      const byDefault = await store.list(p);
      assert.equal(byDefault.records.length, 1000);
      assert.equal(byDefault.next, `${p}000999`);
      const capped = await store.list(p, { limit: 1e9 });
      assert.equal(capped.records.length, MAX_LIST_LIMIT);
      const rest = await store.list(p, { limit: 1e9, after: capped.next });
      assert.deepEqual(rest.records.map((r) => r.key), [`${p}${String(MAX_LIST_LIMIT).padStart(6, '0')}`]);
      assert.equal(rest.next, undefined);
      for (const limit of [0, -1, 1.5, Number.NaN]) await rejectsWith(store.list(p, { limit }), 'INVALID_ARGUMENT');
    });

    it('erase removes every key under the prefix and nothing else', async () => {
      const p = space();
      await fill(['x/1', 'x/2', 'x/3', 'xy/1'].map((k) => p + k));
      const before = await put(`${p}other`, 1);
      assert.equal(await store.erase(`${p}x/`), 3);
      assert.deepEqual(await listKeys(`${p}x/`), []);
      assert.equal(await store.count(p), 2);
      assert.ok((await put(`${p}after`, 1)).revision > before.revision);
      assert.equal(await store.erase(`${p}x/`), 0);
    });

    it('getMany returns records in the order asked, undefined for missing keys', async () => {
      const p = space();
      const r = await store.txn({ compares: [], ops: [{ type: 'put', key: `${p}a`, value: 'A' }, { type: 'put', key: `${p}b`, value: 'B' }] });
      const got = await store.getMany([`${p}b`, `${p}missing`, `${p}a`, `${p}b`]);
      assert.deepEqual(got, [
        { key: `${p}b`, value: 'B', revision: r.revision },
        undefined,
        { key: `${p}a`, value: 'A', revision: r.revision },
        { key: `${p}b`, value: 'B', revision: r.revision },
      ]);
      assert.deepEqual(await store.getMany([]), []);
    });

    it('200 concurrent compare-and-retry increments end at exactly 200', async () => {
      const key = `${space()}counter`;
      await put(key, { n: 0 });
      const increment = async () => {
        for (;;) {
          const current = await store.get<{ n: number }>(key);
          assert.ok(current);
          const r = await put(key, { n: current.value.n + 1 }, [{ key, revision: current.revision }]);
          if (r.ok) return;
          assert.deepEqual(r.failed, [key]);
        }
      };
      await Promise.all(Array.from({ length: 200 }, increment));
      assert.deepEqual((await store.get(key))?.value, { n: 200 });
    });

    it('concurrent create-only on one key: exactly one wins', async () => {
      const key = `${space()}contested`;
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => put(key, { winner: i }, [{ key, revision: 0 }])));
      const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
      assert.equal(winners.length, 1);
      for (const r of results) if (!r.ok) assert.deepEqual(r.failed, [key]);
      assert.deepEqual((await store.get(key))?.value, { winner: winners[0] });
    });

    it('values are copies: mutating what was passed or returned does not change the store', async () => {
      const p = space();
      const value = { list: [1, 2], inner: { x: 1 } };
      const pending = put(`${p}k`, value);
      value.list.push(3);
      value.inner.x = 99;
      await pending;
      const got = await store.get<typeof value>(`${p}k`);
      assert.ok(got);
      got.value.list.push(4);
      const listed = await store.list<typeof value>(p);
      listed.records[0].value.inner.x = 42;
      (await store.getMany<typeof value>([`${p}k`]))[0]!.value.list.length = 0;
      assert.deepEqual((await store.get(`${p}k`))?.value, { list: [1, 2], inner: { x: 1 } });
    });

    it('rejects invalid keys and prefixes with INVALID_ARGUMENT', async () => {
      const p = space();
      const bad: unknown[] = ['', 'a\0b', `${p}${'x'.repeat(1024)}`, 'lone \uD800 surrogate', 42, undefined];
      for (const key of bad) {
        await rejectsWith(store.get(key as string), 'INVALID_ARGUMENT');
        await rejectsWith(store.getMany([`${p}ok`, key as string]), 'INVALID_ARGUMENT');
        await rejectsWith(put(key as string, 1), 'INVALID_ARGUMENT');
        await rejectsWith(store.txn({ compares: [{ key: key as string, revision: 0 }], ops: [] }), 'INVALID_ARGUMENT');
      }
      await rejectsWith(store.list('a\0'), 'INVALID_ARGUMENT');
      await rejectsWith(store.count('a\0'), 'INVALID_ARGUMENT');
      await rejectsWith(store.erase('a\0'), 'INVALID_ARGUMENT');
      const longest = p + 'é'.repeat((1024 - Buffer.byteLength(p)) >> 1);
      assert.equal((await put(longest, 1)).ok, true);
      assert.equal(await store.count(p), 1);
    });

    it('rejects malformed transactions with INVALID_ARGUMENT and applies nothing', async () => {
      const p = space();
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bad: TxnRequest[] = [
        { compares: [], ops: [{ type: 'put', key: `${p}a`, value: 1 }, { type: 'put', key: `${p}u`, value: undefined }] },
        { compares: [], ops: [{ type: 'put', key: `${p}a`, value: 1 }, { type: 'put', key: `${p}big`, value: 1n }] },
        { compares: [], ops: [{ type: 'put', key: `${p}a`, value: 1 }, { type: 'put', key: `${p}c`, value: cyclic }] },
        { compares: [], ops: [{ type: 'put', key: `${p}a`, value: 1 }, { type: 'delete', key: `${p}a` }] },
        { compares: [{ key: `${p}a`, revision: -1 }], ops: [] },
        { compares: [], ops: [{ type: 'rename', key: `${p}a` } as unknown as TxnOp] },
        { compares: [], ops: [{ type: 'put', key: `${p}a`, value: 1 }], durability: 'lazy' as never },
      ];
      for (const request of bad) await rejectsWith(store.txn(request), 'INVALID_ARGUMENT');
      assert.equal(await store.count(p), 0);
    });

    it('a deferred write is visible at once, revisioned and ordered like any other', async () => {
      const p = space();
      const a = await store.txn({ compares: [{ key: `${p}k`, revision: 0 }], ops: [{ type: 'put', key: `${p}k`, value: 'intent' }], durability: 'deferred' });
      assert.equal(a.ok, true);
      assert.deepEqual(await store.get(`${p}k`), { key: `${p}k`, value: 'intent', revision: a.revision });
      const b = await store.txn({ compares: [{ key: `${p}k`, revision: a.revision }], ops: [{ type: 'put', key: `${p}k`, value: 'done' }] });
      assert.equal(b.revision, a.revision + 1);
      assert.equal((await store.get(`${p}k`))?.value, 'done');
    });

    it('is ready while open', async () => {
      assert.equal(await store.ready(), true);
    });

    it('close lets in-flight txns finish, then every call rejects with UNAVAILABLE', async () => {
      const key = `${space()}k`;
      const other = await open();
      const pending = other.txn({ compares: [], ops: [{ type: 'put', key, value: 'written' }] });
      await other.close();
      assert.equal((await pending).ok, true);
      assert.equal((await store.get(key))?.value, 'written');

      assert.equal(await other.ready(), false);
      await rejectsWith(other.get(key), 'UNAVAILABLE');
      await rejectsWith(other.getMany([key]), 'UNAVAILABLE');
      await rejectsWith(other.list(key), 'UNAVAILABLE');
      await rejectsWith(other.count(key), 'UNAVAILABLE');
      await rejectsWith(other.txn({ compares: [], ops: [{ type: 'delete', key }] }), 'UNAVAILABLE');
      await rejectsWith(other.erase(key), 'UNAVAILABLE');
      await other.close();
    });
  });
}
