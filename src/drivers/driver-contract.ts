import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PollyError, type ErrorCode } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { BackendRef, BackendVolume, Progress, StorageDriver } from '../core/ports/storage-driver.js';

const MiB = 1024 * 1024;

export interface DriverContractFixture {
  readonly driver: StorageDriver;
  /** A pool of the driver, empty at the start. */
  readonly pool: string;
  /** Removes everything the fixture made; called after every case, also on failure. */
  readonly cleanup: () => Promise<void>;
  /**
   * Where a volume's content can be read and written as a directory tree, for drivers where
   * that exists. Without it the content checks (snapshot/clone fidelity, mid-copy abort) are
   * skipped.
   */
  readonly pathOf?: (ref: BackendRef) => string;
  /**
   * 'polly' (default): backend ids equal the Polly volume/snapshot id asked for. 'backend': the
   * backend chooses its own ids (e.g. an external CSI plugin's volume_id); the cases then check
   * that repeats return the same id instead.
   */
  readonly backendIds?: 'polly' | 'backend';
}

/** Asserts a backend id is the one asked for, when the driver's backend ids are Polly's. */
function assertOwnId(f: DriverContractFixture, got: string, want: string): void {
  if (f.backendIds === 'backend') assert.ok(typeof got === 'string' && got.length > 0, `backend id ${got}`);
  else assert.equal(got, want);
}

/** The malformed or hostile backend ids every driver must refuse before touching its backend. */
export const MALICIOUS_BACKEND_IDS: readonly string[] = ['../x', 'a/b', '', '.', '..', 'x\u0000y', 'a'.repeat(200), '/etc', '..\\x', ' x'];

/**
 * The StorageDriver contract (see src/core/ports/storage-driver.ts) as node:test cases. Every
 * driver's test file calls this with a setup that makes a fresh driver and an empty pool; each
 * case gets its own fixture.
 */
export function driverContract(name: string, setup: () => Promise<DriverContractFixture>): void {
  const using = async (fn: (f: DriverContractFixture) => Promise<void>): Promise<void> => {
    const fixture = await setup();
    try {
      await fn(fixture);
    } finally {
      await fixture.driver.close();
      await fixture.cleanup();
    }
  };

  describe(`StorageDriver contract: ${name}`, () => {
    it('names its pools and reports capabilities', () =>
      using(async ({ driver, pool }) => {
        assert.ok(driver.pools().includes(pool));
        for (const key of ['snapshot', 'clone', 'expand', 'block', 'nodeLocal'] as const) assert.equal(typeof driver.capabilities[key], 'boolean', key);
        assert.equal(typeof driver.name, 'string');
      }));

    it('reports sane capacity', () =>
      using(async ({ driver, pool }) => {
        const cap = await driver.capacity(pool);
        assert.equal(cap.pool, pool);
        assert.ok(Number.isSafeInteger(cap.totalBytes) && cap.totalBytes > 0, `totalBytes ${cap.totalBytes}`);
        assert.ok(Number.isSafeInteger(cap.freeBytes) && cap.freeBytes >= 0 && cap.freeBytes <= cap.totalBytes, `freeBytes ${cap.freeBytes}`);
      }));

    it('creates idempotently by volume id', () =>
      using(async (f) => {
        const { driver, pool } = f;
        const volumeId = newId('vol');
        const request = { volumeId, pool, sizeBytes: 8 * MiB, parameters: {} };
        const first = await driver.create(request);
        assertOwnId(f, first.backendId, volumeId);
        assert.equal(first.pool, pool);
        assert.equal(first.kind, 'volume');
        assert.ok(first.sizeBytes >= 8 * MiB);
        assert.deepEqual(await driver.create(request), first);
        const [a, b] = await Promise.all([driver.create(request), driver.create(request)]);
        assert.deepEqual(a, first);
        assert.deepEqual(b, first);
        const concurrentId = newId('vol');
        const [c, d] = await Promise.all([driver.create({ ...request, volumeId: concurrentId }), driver.create({ ...request, volumeId: concurrentId })]);
        assert.deepEqual(c, d);
        const listed = await driver.list(pool);
        assert.equal(listed.filter((v) => v.backendId === first.backendId).length, 1);
        assert.equal(listed.filter((v) => v.backendId === c.backendId).length, 1);
      }));

    it('lists created volumes and snapshots', () =>
      using(async ({ driver, pool }) => {
        const one = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
        const two = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 2 * MiB, parameters: {} });
        const snap = driver.capabilities.snapshot ? await driver.snapshot(newId('snap'), ref(one)) : undefined;
        const listed = await driver.list(pool);
        for (const v of [one, two, ...(snap ? [snap] : [])]) {
          const found = listed.find((l) => l.backendId === v.backendId);
          assert.ok(found, `${v.backendId} listed`);
          assert.equal(found.kind, v.kind);
          assert.equal(found.pool, pool);
          assert.equal(found.sizeBytes, v.sizeBytes);
        }
        assert.equal(snap?.kind ?? 'snapshot', 'snapshot');
        if (driver.listIds) {
          const key = (e: { kind: string; backendId: string; pool: string }) => `${e.kind} ${e.pool} ${e.backendId}`;
          assert.deepEqual((await driver.listIds(pool)).map(key).sort(), listed.map(key).sort(), 'listIds names what list names');
        }
      }));

    it('deletes idempotently', () =>
      using(async (f) => {
        const { driver, pool } = f;
        const volumeId = newId('vol');
        const volume = await driver.create({ volumeId, pool, sizeBytes: MiB, parameters: {} });
        const snap = driver.capabilities.snapshot ? await driver.snapshot(newId('snap'), ref(volume)) : undefined;
        await driver.delete(ref(volume));
        await driver.delete(ref(volume));
        await driver.delete({ pool, backendId: newId('vol') });
        if (snap) {
          await driver.deleteSnapshot(ref(snap));
          await driver.deleteSnapshot(ref(snap));
        }
        await driver.deleteSnapshot({ pool, backendId: newId('snap') });
        const ids = (await driver.list(pool)).map((v) => v.backendId);
        assert.ok(!ids.includes(volume.backendId));
        if (snap) assert.ok(!ids.includes(snap.backendId));
        // The id is free again.
        const again = await driver.create({ volumeId, pool, sizeBytes: MiB, parameters: {} });
        if (f.backendIds !== 'backend') assert.equal(again.backendId, volume.backendId);
        else assert.ok((await driver.list(pool)).some((v) => v.backendId === again.backendId));
      }));

    it('snapshots idempotently, point in time, and creates volumes from snapshots', (t) =>
      using(async (f) => {
        const { driver, pool, pathOf } = f;
        if (!driver.capabilities.snapshot) return void t.skip('driver cannot snapshot');
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 4 * MiB, parameters: {} });
        const original = pathOf ? await writeSampleTree(pathOf(ref(volume))) : undefined;
        const snapshotId = newId('snap');
        const snap = await driver.snapshot(snapshotId, ref(volume));
        assertOwnId(f, snap.backendId, snapshotId);
        assert.equal(snap.kind, 'snapshot');
        assert.equal(snap.pool, pool);
        assert.ok(snap.sizeBytes >= volume.sizeBytes);
        assert.deepEqual(await driver.snapshot(snapshotId, ref(volume)), snap);
        if (pathOf) await writeFile(path.join(pathOf(ref(volume)), 'hello.txt'), 'changed after the snapshot\n');

        const restored = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: snap.sizeBytes, parameters: {}, source: { kind: 'snapshot', ref: ref(snap) } });
        assert.equal(restored.kind, 'volume');
        assert.ok(restored.sizeBytes >= snap.sizeBytes);
        if (pathOf && original) assert.deepEqual(await readTree(pathOf(ref(restored))), original);
        await expectCode(driver.snapshot(newId('snap'), { pool, backendId: newId('vol') }), 'NOT_FOUND');
      }));

    it('clones a volume', (t) =>
      using(async (f) => {
        const { driver, pool, pathOf } = f;
        if (!driver.capabilities.clone) return void t.skip('driver cannot clone');
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 4 * MiB, parameters: {} });
        const original = pathOf ? await writeSampleTree(pathOf(ref(volume))) : undefined;
        const cloneId = newId('vol');
        const request = { volumeId: cloneId, pool, sizeBytes: 4 * MiB, parameters: {}, source: { kind: 'volume' as const, ref: ref(volume) } };
        const clone = await driver.create(request);
        assertOwnId(f, clone.backendId, cloneId);
        assert.deepEqual(await driver.create(request), clone);
        if (pathOf && original) {
          assert.deepEqual(await readTree(pathOf(ref(clone))), original);
          // Independent copies: writing one does not change the other.
          await writeFile(path.join(pathOf(ref(clone)), 'hello.txt'), 'clone only\n');
          assert.deepEqual(await readTree(pathOf(ref(volume))), original);
        }
        await expectCode(
          driver.create({ ...request, volumeId: newId('vol'), source: { kind: 'volume', ref: { pool, backendId: newId('vol') } } }),
          'NOT_FOUND',
        );
        assert.equal((await driver.list(pool)).filter((v) => v.kind === 'volume').length, 2);
      }));

    it('expands and refuses to shrink', (t) =>
      using(async ({ driver, pool }) => {
        if (!driver.capabilities.expand) return void t.skip('driver cannot expand');
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 4 * MiB, parameters: {} });
        const grown = await driver.expand(ref(volume), 16 * MiB);
        assert.ok(grown.sizeBytes >= 16 * MiB);
        assert.equal(grown.backendId, volume.backendId);
        assert.deepEqual(await driver.expand(ref(volume), grown.sizeBytes), grown);
        await expectCode(driver.expand(ref(volume), 2 * MiB), 'OUT_OF_RANGE');
        assert.equal((await driver.list(pool)).find((v) => v.backendId === volume.backendId)?.sizeBytes, grown.sizeBytes);
        await expectCode(driver.expand({ pool, backendId: newId('vol') }, 32 * MiB), 'NOT_FOUND');
      }));

    it('refuses unknown pools with INVALID_ARGUMENT', () =>
      using(async ({ driver, pool }) => {
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
        for (const bad of ['no-such-pool', '', '../x', '__proto__', 'constructor']) {
          const other = { pool: bad, backendId: volume.backendId };
          await expectCode(driver.capacity(bad), 'INVALID_ARGUMENT');
          await expectCode(driver.list(bad), 'INVALID_ARGUMENT');
          await expectCode(driver.create({ volumeId: newId('vol'), pool: bad, sizeBytes: MiB, parameters: {} }), 'INVALID_ARGUMENT');
          await expectCode(
            driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: other } }),
            'INVALID_ARGUMENT',
          );
          await expectCode(driver.delete(other), 'INVALID_ARGUMENT');
          await expectCode(driver.snapshot(newId('snap'), other), 'INVALID_ARGUMENT');
          await expectCode(driver.deleteSnapshot(other), 'INVALID_ARGUMENT');
          await expectCode(driver.expand(other, 2 * MiB), 'INVALID_ARGUMENT');
          await expectCode(driver.usage(other), 'INVALID_ARGUMENT');
          await expectCode(driver.cleanup(bad), 'INVALID_ARGUMENT');
        }
        assert.deepEqual((await driver.list(pool)).map((v) => v.backendId), [volume.backendId]);
      }));

    it('refuses malicious backend ids with INVALID_ARGUMENT and touches nothing', () =>
      using(async ({ driver, pool, pathOf }) => {
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
        const content = pathOf ? await writeSampleTree(pathOf(ref(volume))) : undefined;
        const before = await driver.list(pool);
        for (const bad of MALICIOUS_BACKEND_IDS) {
          const badRef = { pool, backendId: bad };
          await expectCode(driver.create({ volumeId: bad, pool, sizeBytes: MiB, parameters: {} }), 'INVALID_ARGUMENT', bad);
          await expectCode(
            driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: badRef } }),
            'INVALID_ARGUMENT',
            bad,
          );
          await expectCode(
            driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'snapshot', ref: badRef } }),
            'INVALID_ARGUMENT',
            bad,
          );
          await expectCode(driver.delete(badRef), 'INVALID_ARGUMENT', bad);
          await expectCode(driver.deleteSnapshot(badRef), 'INVALID_ARGUMENT', bad);
          await expectCode(driver.snapshot(newId('snap'), badRef), 'INVALID_ARGUMENT', bad);
          await expectCode(driver.snapshot(bad, ref(volume)), 'INVALID_ARGUMENT', bad);
          await expectCode(driver.expand(badRef, 2 * MiB), 'INVALID_ARGUMENT', bad);
          await expectCode(driver.usage(badRef), 'INVALID_ARGUMENT', bad);
        }
        assert.deepEqual(await driver.list(pool), before);
        if (pathOf && content) assert.deepEqual(await readTree(pathOf(ref(volume))), content);
      }));

    it('leaves nothing behind when a clone is aborted before it starts', (t) =>
      using(async (f) => {
        const { driver, pool } = f;
        if (!driver.capabilities.clone) return void t.skip('driver cannot clone');
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
        const before = await driver.list(pool);
        const cloneId = newId('vol');
        const request = { volumeId: cloneId, pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume' as const, ref: ref(volume) } };
        await assert.rejects(driver.create(request, { signal: AbortSignal.abort() }));
        if (driver.capabilities.snapshot) await assert.rejects(driver.snapshot(newId('snap'), ref(volume), { signal: AbortSignal.abort() }));
        assert.deepEqual(await driver.list(pool), before);
        // The same request succeeds afterwards.
        assertOwnId(f, (await driver.create(request)).backendId, cloneId);
      }));

    it('leaves nothing behind when a clone is aborted mid-copy', (t) =>
      using(async (f) => {
        const { driver, pool, pathOf } = f;
        if (!driver.capabilities.clone || !pathOf) return void t.skip('needs clone and pathOf');
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 64 * MiB, parameters: {} });
        await writeBulk(pathOf(ref(volume)), 8, 2 * MiB);
        const before = await driver.list(pool);
        const controller = new AbortController();
        let abortedAt: Progress | undefined;
        const request = { volumeId: newId('vol'), pool, sizeBytes: 64 * MiB, parameters: {}, source: { kind: 'volume' as const, ref: ref(volume) } };
        const attempt = driver.create(request, {
          signal: controller.signal,
          onProgress: (p) => {
            if (!abortedAt && p.doneBytes > 0 && p.doneBytes < p.totalBytes) {
              abortedAt = p;
              controller.abort();
            }
          },
        });
        const outcome = await attempt.then(
          () => 'resolved' as const,
          (e: unknown) => e,
        );
        if (!abortedAt) {
          // A driver that only reports at the end (e.g. reflinks) has no "middle" to abort in.
          t.diagnostic('no intermediate progress event: mid-copy abort not exercised');
          return;
        }
        assert.notEqual(outcome, 'resolved', 'an aborted copy must not succeed');
        assert.deepEqual(await driver.list(pool), before);
        // Nothing half-made blocks the id: the same request succeeds afterwards.
        assertOwnId(f, (await driver.create(request)).backendId, request.volumeId);
      }));

    it('reports copy progress up to totalBytes', (t) =>
      using(async ({ driver, pool, pathOf }) => {
        if (!driver.capabilities.clone) return void t.skip('driver cannot clone');
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 16 * MiB, parameters: {} });
        const written = pathOf ? await writeBulk(pathOf(ref(volume)), 3, 3 * MiB + 17) : 0;
        const events: Progress[] = [];
        await driver.create(
          { volumeId: newId('vol'), pool, sizeBytes: 16 * MiB, parameters: {}, source: { kind: 'volume', ref: ref(volume) } },
          { onProgress: (p) => events.push(p) },
        );
        if (!pathOf && events.length === 0) return;
        assert.ok(events.length > 0, 'at least one progress event');
        const last = events.at(-1)!;
        assert.equal(last.doneBytes, last.totalBytes);
        assert.ok(last.totalBytes >= written, `totalBytes ${last.totalBytes} >= ${written}`);
        for (let i = 1; i < events.length; i++) assert.ok(events[i]!.doneBytes >= events[i - 1]!.doneBytes, 'doneBytes never decreases');
        for (const e of events) assert.ok(e.doneBytes <= e.totalBytes);
      }));

    it('reports usage of a volume', () =>
      using(async ({ driver, pool, pathOf }) => {
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 16 * MiB, parameters: {} });
        const written = pathOf ? await writeBulk(pathOf(ref(volume)), 2, MiB) : 0;
        const used = await driver.usage(ref(volume));
        if (used === undefined) return;
        assert.ok(Number.isSafeInteger(used) && used >= written, `usage ${used} >= ${written}`);
      }));

    it('cleans up leftovers and reports how many', () =>
      using(async ({ driver, pool }) => {
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
        const removed = await driver.cleanup(pool);
        assert.ok(Number.isSafeInteger(removed) && removed >= 0);
        assert.ok((await driver.list(pool)).some((v) => v.backendId === volume.backendId), 'cleanup keeps volumes');
      }));
  });
}

const ref = (v: BackendVolume): BackendRef => ({ pool: v.pool, backendId: v.backendId });

async function expectCode(promise: Promise<unknown>, code: ErrorCode, what = ''): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof PollyError, `expected a PollyError ${code} ${what}, got ${String(e)}`);
    assert.equal(e.code, code, `${e.message} ${what}`);
    return true;
  });
}

/** Writes a small tree with text, binary and nested content; returns what readTree sees. */
async function writeSampleTree(dir: string): Promise<Map<string, string>> {
  await mkdir(path.join(dir, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(dir, 'hello.txt'), 'hello\n');
  await writeFile(path.join(dir, 'sub', 'data.bin'), randomBytes(300 * 1024));
  await writeFile(path.join(dir, 'sub', 'deeper', 'empty'), '');
  return readTree(dir);
}

/** Writes `count` files of random bytes; returns the bytes written. */
async function writeBulk(dir: string, count: number, bytes: number): Promise<number> {
  for (let i = 0; i < count; i++) await writeFile(path.join(dir, `bulk-${i}.bin`), randomBytes(bytes));
  return count * bytes;
}

/** Relative path → content (files), 'dir', or 'symlink:<target>'. */
async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = path.join(rel, e.name);
      const full = path.join(dir, r);
      if (e.isSymbolicLink()) out.set(r, `symlink:${await readlink(full)}`);
      else if (e.isDirectory()) {
        out.set(r, 'dir');
        await walk(r);
      } else out.set(r, (await readFile(full)).toString('base64'));
    }
  };
  await walk('');
  return out;
}
