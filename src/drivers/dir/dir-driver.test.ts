import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PollyError, type ErrorCode } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { PoolSpec, ServiceSpec } from '../../core/model.js';
import type { BackendRef, BackendVolume } from '../../core/ports/storage-driver.js';
import { driverContract, MALICIOUS_BACKEND_IDS } from '../driver-contract.js';
import { nodeContract } from '../node-contract.js';
import { cleanupHostDir } from '../node/testing/host-cleanup.js';
import { checkPoolRootsDisjoint, createDirDriver, type DirDriver } from './dir-driver.js';
import { removeTree } from './remove-tree.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const run = promisify(execFile);

function poolSpec(name: string, root: string | undefined, extra: Partial<PoolSpec> = {}): PoolSpec {
  return { name, overcommit: 1, types: [], labels: {}, maxIops: 0, params: root === undefined ? {} : { path: root }, ...extra };
}

function serviceSpec(name: string, pools: PoolSpec[], driver = 'dir'): ServiceSpec {
  return { name, driver, defaultSizeBytes: MiB, quota: {}, pools, driverConfig: {} };
}

interface Fixture {
  readonly tmp: string;
  readonly root: string;
  readonly driver: DirDriver;
  readonly pool: string;
  readonly pathOf: (ref: BackendRef) => string;
  readonly snapshotPath: (ref: BackendRef) => string;
  readonly cleanup: () => Promise<void>;
}

async function makeFixture(extra: Partial<PoolSpec> = {}): Promise<Fixture> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-dir-'));
  const root = path.join(tmp, 'pool');
  const driver = createDirDriver(serviceSpec('files', [poolSpec('p1', root, extra)]));
  return {
    tmp,
    root,
    driver,
    pool: 'p1',
    pathOf: (ref) => path.join(root, 'volumes', ref.backendId),
    snapshotPath: (ref) => path.join(root, 'snapshots', ref.backendId),
    // removeTree copes with the read-only snapshot roots when the tests do not run as root.
    cleanup: () => removeTree(tmp),
  };
}

/** Runs a test body with a fresh fixture, cleaned up even when the body fails. */
async function withFixture(fn: (f: Fixture) => Promise<void>, extra: Partial<PoolSpec> = {}): Promise<void> {
  const fixture = await makeFixture(extra);
  try {
    await fn(fixture);
  } finally {
    await fixture.driver.close();
    await fixture.cleanup();
  }
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode, what = ''): Promise<PollyError> {
  let caught: unknown;
  await assert.rejects(promise, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof PollyError, `expected PollyError ${code} ${what}, got ${String(caught)}`);
  assert.equal(caught.code, code, `${caught.message} ${what}`);
  return caught;
}

const ref = (v: BackendVolume): BackendRef => ({ pool: v.pool, backendId: v.backendId });

/** Every entry of a tree (names as raw bytes) with type, mode, owner, mtime, links and content. */
async function describeTree(dir: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  const walk = async (rel: Buffer): Promise<void> => {
    const full = Buffer.concat([Buffer.from(dir), rel]);
    const st = await lstat(full);
    const entry: Record<string, unknown> = { mode: st.mode, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, nlink: st.isDirectory() ? undefined : st.nlink };
    if (st.isSymbolicLink()) entry['link'] = (await readlink(full)).toString();
    else if (st.isFile()) entry['sha256'] = createHash('sha256').update(await readFile(full)).digest('hex');
    out.set(rel.toString('latin1'), entry);
    if (st.isDirectory()) {
      for (const name of (await readdir(full, { encoding: 'buffer' })).sort(Buffer.compare)) await walk(Buffer.concat([rel, Buffer.from('/'), name]));
    }
  };
  await walk(Buffer.alloc(0));
  return out;
}

/**
 * Trees are equal when entries match exactly except mtimes, which need only agree to a
 * microsecond: Node's utimes takes seconds as a double, which cannot carry every nanosecond.
 */
function assertSameTree(actual: Map<string, Record<string, unknown>>, expected: Map<string, Record<string, unknown>>, message = ''): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()], message);
  for (const [key, want] of expected) {
    const { mtimeMs: gotTime, ...got } = actual.get(key)!;
    const { mtimeMs: wantTime, ...rest } = want;
    assert.deepEqual(got, rest, `${message} ${key}`);
    assert.ok(Math.abs((gotTime as number) - (wantTime as number)) < 0.001, `${message} ${key}: mtime ${String(gotTime)} vs ${String(wantTime)}`);
  }
}

/** Paths and mtimes of everything under `dir` (to show that nothing was touched). */
async function fingerprint(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    out.push(`${path.relative(dir, p)} ${st.mode} ${st.mtimeMs} ${st.size}`);
    if (st.isDirectory()) for (const name of (await readdir(p)).sort()) await walk(path.join(p, name));
  };
  await walk(dir);
  return out;
}

driverContract('dir', async () => {
  const f = await makeFixture();
  return { driver: f.driver, pool: f.pool, cleanup: f.cleanup, pathOf: f.pathOf };
});

// Real bind mounts: needs root (CI runs as root).
nodeContract('dir', async () => {
  const tmp = await mkdtemp(path.join(tmpdir(), 'polly-dir-node-'));
  const service = serviceSpec('files', [poolSpec('p1', path.join(tmp, 'pool'))]);
  const hostDir = path.join(tmp, 'host');
  await mkdir(hostDir);
  return {
    driver: createDirDriver(service),
    pool: 'p1',
    hostDir,
    reopen: () => createDirDriver(service),
    cleanup: () => cleanupHostDir(tmp),
    sizedStats: false,
  };
});

describe('DirDriver', () => {
  it('preserves modes, owners, times, symlinks and hard links in snapshots and clones', (t) =>
    withFixture(async ({ driver, pool, pathOf, snapshotPath }) => {
      if (!isRoot) return void t.skip('needs root to set owners');
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 8 * MiB, parameters: {} });
      const v = pathOf(ref(volume));
      await writeFile(path.join(v, 'a.txt'), 'alpha\n');
      await chown(path.join(v, 'a.txt'), 1234, 5678);
      await chmod(path.join(v, 'a.txt'), 0o640);
      await link(path.join(v, 'a.txt'), path.join(v, 'a-link'));
      await writeFile(path.join(v, 'tool'), '#!/bin/sh\n');
      await chown(path.join(v, 'tool'), 1234, 5678);
      await chmod(path.join(v, 'tool'), 0o4755);
      await writeFile(path.join(v, 'empty'), '');
      await writeFile(path.join(v, 'world'), 'anyone may write\n');
      await chmod(path.join(v, 'world'), 0o666);
      await mkdir(path.join(v, 'private'));
      await writeFile(path.join(v, 'private', 'secret'), 'psst');
      await chmod(path.join(v, 'private', 'secret'), 0o600);
      await chown(path.join(v, 'private'), 2000, 2000);
      await chmod(path.join(v, 'private'), 0o710);
      await mkdir(path.join(v, 'ro'));
      await writeFile(path.join(v, 'ro', 'inside'), 'x');
      await chmod(path.join(v, 'ro'), 0o555);
      await symlink('a.txt', path.join(v, 'rel'));
      await symlink('/etc/passwd', path.join(v, 'abs'));
      await symlink('nowhere', path.join(v, 'dangling'));
      await lchown(path.join(v, 'rel'), 3000, 3000);
      await writeFile(Buffer.from(`${v}/not-utf8-\xff`, 'latin1'), 'bytes in the name');
      await chown(v, 4000, 4000);
      await chmod(v, 0o775);
      // Distinct fixed times, children before parents (writing a child changes its parent's mtime).
      let second = 978_307_200; // 2001-01-01
      for (const rel of ['a.txt', 'tool', 'empty', 'world', 'private/secret', 'ro/inside', 'private', 'ro']) {
        second += 3600;
        await utimes(path.join(v, rel), second, second);
      }
      await lutimes(path.join(v, 'rel'), 1_000_000_000, 1_000_000_000);
      await utimes(path.join(v, 'empty'), 1_100_000_000, 1_100_000_000);
      await utimes(v, 1_200_000_000, 1_200_000_000);
      const original = await describeTree(v);
      // Reading a file may move its atime (describeTree just did): set it now, check before reading.
      const atime = 1_150_000_000;
      await utimes(path.join(v, 'empty'), atime, 1_100_000_000);

      const snap = await driver.snapshot(newId('snap'), ref(volume));
      const fromSnapshot = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 8 * MiB, parameters: {}, source: { kind: 'snapshot', ref: ref(snap) } });
      const fromVolume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 8 * MiB, parameters: {}, source: { kind: 'volume', ref: ref(volume) } });
      for (const copy of [snapshotPath(ref(snap)), pathOf(ref(fromSnapshot)), pathOf(ref(fromVolume))]) {
        assert.equal((await stat(path.join(copy, 'empty'))).atimeMs, atime * 1000, `atime kept in ${copy}`);
      }

      const snapshotTree = await describeTree(snapshotPath(ref(snap)));
      const snapshotRoot = snapshotTree.get('')!;
      assert.equal((snapshotRoot['mode'] as number) & 0o7777, 0o500, 'snapshot root is locked down');
      assert.equal(snapshotRoot['uid'], 0);
      const withoutRoot = (tree: Map<string, Record<string, unknown>>) => new Map([...tree].filter(([k]) => k !== ''));
      assertSameTree(withoutRoot(snapshotTree), withoutRoot(original), 'snapshot');

      for (const clone of [fromSnapshot, fromVolume]) {
        const c = pathOf(ref(clone));
        assertSameTree(await describeTree(c), original, `clone ${clone.backendId}`);
        assert.equal((await lstat(path.join(c, 'a.txt'))).ino, (await lstat(path.join(c, 'a-link'))).ino, 'hard link kept');
        assert.equal((await lstat(path.join(c, 'abs'))).isSymbolicLink(), true, 'symlink copied as a symlink');
      }
    }));

  it('keeps snapshots out of reach of non-root users', (t) =>
    withFixture(async ({ tmp, driver, pool, pathOf, snapshotPath }) => {
      if (!isRoot) return void t.skip('needs root to run a command as nobody');
      await chmod(tmp, 0o755);
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
      const world = path.join(pathOf(ref(volume)), 'world');
      await writeFile(world, 'before\n');
      await chmod(world, 0o666);
      const snap = await driver.snapshot(newId('snap'), ref(volume));
      const asNobody = (file: string) =>
        run(process.execPath, ['-e', `require('fs').appendFileSync(${JSON.stringify(file)}, 'nobody was here\\n')`], { uid: 65534, gid: 65534, cwd: '/' }).then(
          () => 'written',
          (e: { stderr?: string }) => (/EACCES/.test(e.stderr ?? '') ? 'EACCES' : `failed: ${e.stderr}`),
        );
      assert.equal(await asNobody(world), 'written', 'control: nobody may write the volume file');
      assert.equal(await asNobody(path.join(snapshotPath(ref(snap)), 'world')), 'EACCES');
      assert.equal(await asNobody(path.join(snapshotPath(ref(snap)), 'new-file')), 'EACCES');
      assert.equal(await readFile(path.join(snapshotPath(ref(snap)), 'world'), 'utf8'), 'before\n');
      // Clones get the file's mode back.
      const clone = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'snapshot', ref: ref(snap) } });
      assert.equal((await stat(path.join(pathOf(ref(clone)), 'world'))).mode & 0o777, 0o666);
    }));

  it('keeps sparse files sparse', () =>
    withFixture(async ({ driver, pool, pathOf }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 128 * MiB, parameters: {} });
      const file = path.join(pathOf(ref(volume)), 'disk.img');
      const data = randomBytes(4096);
      const handle = await open(file, 'w');
      await handle.write(data, 0, data.length, 32 * MiB);
      await handle.truncate(64 * MiB);
      await handle.close();
      const source = await stat(file);
      assert.equal(source.size, 64 * MiB);
      assert.ok(source.blocks * 512 <= 64 * 1024, `fixture is sparse (${source.blocks} blocks)`);

      const snap = await driver.snapshot(newId('snap'), ref(volume));
      const clone = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 128 * MiB, parameters: {}, source: { kind: 'snapshot', ref: ref(snap) } });
      const copied = path.join(pathOf(ref(clone)), 'disk.img');
      const st = await stat(copied);
      assert.equal(st.size, 64 * MiB);
      assert.ok(st.blocks <= source.blocks, `clone ${st.blocks} blocks, source ${source.blocks}`);
      const content = await readFile(copied);
      assert.ok(content.subarray(32 * MiB, 32 * MiB + 4096).equals(data));
      assert.equal(content.subarray(0, 32 * MiB).some((b) => b !== 0), false);
      assert.ok((await driver.usage(ref(clone)))! < MiB, 'usage counts allocated blocks');
    }));

  it('refuses symlinks in the pool in every operation and never follows them', () =>
    withFixture(async ({ tmp, root, driver, pool, pathOf }) => {
      const outside = path.join(tmp, 'outside');
      await mkdir(outside);
      await writeFile(path.join(outside, 'keep'), randomBytes(MiB));
      await driver.capacity(pool); // creates the layout
      await symlink(outside, path.join(root, 'volumes', 'evil'));
      await symlink('/etc', path.join(root, 'volumes', 'etc'));
      await symlink(outside, path.join(root, 'snapshots', 'evil'));
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
      await symlink(outside, path.join(pathOf(ref(volume)), 'escape'));
      const before = await fingerprint(outside);

      for (const name of ['evil', 'etc']) {
        const evil = { pool, backendId: name };
        await expectCode(driver.create({ volumeId: name, pool, sizeBytes: MiB, parameters: {} }), 'INVALID_ARGUMENT', name);
        await expectCode(driver.delete(evil), 'INVALID_ARGUMENT', name);
        await expectCode(driver.expand(evil, 2 * MiB), 'INVALID_ARGUMENT', name);
        await expectCode(driver.usage(evil), 'INVALID_ARGUMENT', name);
        await expectCode(driver.snapshot(newId('snap'), evil), 'INVALID_ARGUMENT', name);
        await expectCode(driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: evil } }), 'INVALID_ARGUMENT', name);
      }
      const evilSnapshot = { pool, backendId: 'evil' };
      await expectCode(driver.deleteSnapshot(evilSnapshot), 'INVALID_ARGUMENT');
      await expectCode(driver.snapshot('evil', ref(volume)), 'INVALID_ARGUMENT');
      await expectCode(driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'snapshot', ref: evilSnapshot } }), 'INVALID_ARGUMENT');
      assert.deepEqual((await driver.list(pool)).map((v) => v.backendId), [volume.backendId], 'symlinks are not listed');
      await driver.cleanupStaging(pool);

      // A symlink inside a volume is copied as a symlink; what it points to is neither copied nor counted.
      const clone = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: ref(volume) } });
      assert.equal(await readlink(path.join(pathOf(ref(clone)), 'escape')), outside);
      assert.ok((await driver.usage(ref(volume)))! < MiB);
      await driver.delete(ref(clone));
      await driver.delete(ref(volume));

      assert.deepEqual(await fingerprint(outside), before);
      assert.equal((await lstat(path.join(root, 'volumes', 'evil'))).isSymbolicLink(), true);
      assert.equal((await lstat(path.join(root, 'snapshots', 'evil'))).isSymbolicLink(), true);
    }));

  it('refuses a pool whose layout directories are symlinks', () =>
    withFixture(async ({ tmp, root, driver, pool }) => {
      const outside = path.join(tmp, 'outside');
      await mkdir(outside);
      await mkdir(root);
      await symlink(outside, path.join(root, 'volumes'));
      const before = await fingerprint(outside);
      await expectCode(driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} }), 'BACKEND_ERROR');
      await expectCode(driver.list(pool), 'BACKEND_ERROR');
      await expectCode(driver.capacity(pool), 'BACKEND_ERROR');
      await expectCode(driver.delete({ pool, backendId: newId('vol') }), 'BACKEND_ERROR');
      assert.deepEqual(await fingerprint(outside), before);
    }));

  it('touches nothing on disk for malicious ids', () =>
    withFixture(async ({ tmp, driver, pool }) => {
      const before = await fingerprint(tmp);
      for (const bad of MALICIOUS_BACKEND_IDS) {
        const badRef = { pool, backendId: bad };
        await expectCode(driver.create({ volumeId: bad, pool, sizeBytes: MiB, parameters: {} }), 'INVALID_ARGUMENT');
        await expectCode(driver.delete(badRef), 'INVALID_ARGUMENT');
        await expectCode(driver.deleteSnapshot(badRef), 'INVALID_ARGUMENT');
        await expectCode(driver.snapshot(newId('snap'), badRef), 'INVALID_ARGUMENT');
        await expectCode(driver.expand(badRef, MiB), 'INVALID_ARGUMENT');
        await expectCode(driver.usage(badRef), 'INVALID_ARGUMENT');
      }
      assert.deepEqual(await fingerprint(tmp), before, 'not even the pool root was created');
    }));

  it('honours the capacity cap', () =>
    withFixture(
      async ({ driver, pool, pathOf, root }) => {
        const cap = await driver.capacity(pool);
        assert.equal(cap.totalBytes, 2 * MiB);
        assert.ok(cap.freeBytes <= 2 * MiB);
        const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
        await writeFile(path.join(pathOf(ref(volume)), 'big'), randomBytes(3 * MiB));
        const cloneId = newId('vol');
        await expectCode(driver.create({ volumeId: cloneId, pool, sizeBytes: 4 * MiB, parameters: {}, source: { kind: 'volume', ref: ref(volume) } }), 'INSUFFICIENT_CAPACITY');
        await expectCode(driver.snapshot(newId('snap'), ref(volume)), 'INSUFFICIENT_CAPACITY');
        assert.deepEqual(await readdir(path.join(root, '.staging')), []);
        assert.deepEqual((await driver.list(pool)).map((v) => v.backendId), [volume.backendId]);
      },
      { capacityBytes: 2 * MiB },
    ));

  it('leaves an empty staging area after an aborted copy', () =>
    withFixture(async ({ root, driver, pool, pathOf }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
      for (let i = 0; i < 4; i++) await writeFile(path.join(pathOf(ref(volume)), `f${i}`), randomBytes(2 * MiB));
      const controller = new AbortController();
      const attempt = driver.snapshot(newId('snap'), ref(volume), {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.doneBytes >= 3 * MiB) controller.abort(new Error('stop'));
        },
      });
      await assert.rejects(attempt, /stop/);
      assert.deepEqual(await readdir(path.join(root, '.staging')), []);
      assert.deepEqual(await readdir(path.join(root, 'snapshots')), []);
      assert.deepEqual(await readdir(path.join(root, '.meta', 'snapshots')), []);
    }));

  it('removes staging leftovers and orphan metadata, and nothing else', () =>
    withFixture(async ({ root, driver, pool }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
      const staging = path.join(root, '.staging');
      const leftover = path.join(staging, `${newId('vol')}.abcdef012345`);
      await mkdir(path.join(leftover, 'locked'), { recursive: true });
      await writeFile(path.join(leftover, 'locked', 'file'), 'x');
      await chmod(path.join(leftover, 'locked'), 0o500);
      const orphan = newId('vol');
      await writeFile(path.join(root, '.meta', 'volumes', `${orphan}.json`), JSON.stringify({ version: 1, kind: 'volume', sizeBytes: 1 }));
      await writeFile(path.join(root, '.meta', 'volumes', `${volume.backendId}.json.tmp-0a0b`), '{');
      await writeFile(path.join(root, '.meta', 'volumes', 'README'), 'not ours');

      assert.deepEqual(await driver.cleanupStaging(pool, { olderThanMs: 60_000 }), [], 'young leftovers are kept when asked');
      const removed = await driver.cleanupStaging(pool);
      assert.deepEqual(removed.sort(), [
        path.join('.meta', 'volumes', `${orphan}.json`),
        path.join('.meta', 'volumes', `${volume.backendId}.json.tmp-0a0b`),
        path.relative(root, leftover),
      ].sort());
      assert.deepEqual(await readdir(staging), []);
      assert.deepEqual((await readdir(path.join(root, '.meta', 'volumes'))).sort(), [`${volume.backendId}.json`, 'README'].sort());
      assert.deepEqual(await driver.list(pool), [volume]);
      assert.equal(await driver.cleanup(pool), 0);
    }));

  it('lists unmanaged directories and lets them be adopted', () =>
    withFixture(async ({ root, driver, pool }) => {
      await driver.capacity(pool);
      const legacy = path.join(root, 'volumes', 'legacy-data');
      await mkdir(legacy);
      await writeFile(path.join(legacy, 'payload'), randomBytes(MiB));
      await mkdir(path.join(root, 'volumes', 'has space'));
      await mkdir(path.join(root, 'volumes', 'dot..dot'));
      await writeFile(path.join(root, 'volumes', 'a-file'), 'x');
      const listed = await driver.list(pool);
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.backendId, 'legacy-data');
      assert.equal(listed[0]!.kind, 'volume');
      assert.equal(listed[0]!.createdAt, undefined);
      assert.ok(listed[0]!.sizeBytes >= MiB);
      assert.equal(await driver.usage({ pool, backendId: 'legacy-data' }), listed[0]!.sizeBytes);

      const adopted = await driver.expand({ pool, backendId: 'legacy-data' }, 10 * MiB);
      assert.equal(adopted.sizeBytes, 10 * MiB);
      const snap = await driver.snapshot('legacy-snap', { pool, backendId: 'legacy-data' });
      assert.equal(snap.sizeBytes, 10 * MiB);
      await driver.delete({ pool, backendId: 'legacy-data' });
      await driver.deleteSnapshot(ref(snap));
      assert.deepEqual(await driver.list(pool), []);
    }));

  it('creates new volumes as root-owned 0755 directories and records metadata outside them', () =>
    withFixture(async ({ root, driver, pool, pathOf }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 3 * MiB, parameters: {} });
      const st = await stat(pathOf(ref(volume)));
      assert.equal(st.mode & 0o7777, 0o755);
      assert.deepEqual(await readdir(pathOf(ref(volume))), []);
      // One symlink whose target is the record: made whole by one system call, read, never followed.
      const record = path.join(root, '.meta', 'volumes', `${volume.backendId}.json`);
      assert.ok((await lstat(record)).isSymbolicLink());
      const metadata = JSON.parse(await readlink(record));
      assert.equal(metadata.sizeBytes, 3 * MiB);
      assert.equal(metadata.createdAt, volume.createdAt);
      assert.equal((await stat(path.join(root, '.staging'))).mode & 0o777, 0o700);
      assert.equal((await stat(path.join(root, '.meta'))).mode & 0o777, 0o700);
    }));

  it('leaves nothing of a create that failed half-way, and a retry of a finished create answers what is there', () =>
    withFixture(async ({ root, driver, pool, pathOf }) => {
      const id = newId('vol');
      await driver.capacity(pool); // creates the layout
      // The metadata file cannot be written: a directory stands in its place.
      await mkdir(path.join(root, '.meta', 'volumes', `${id}.json`));
      await assert.rejects(driver.create({ volumeId: id, pool, sizeBytes: MiB, parameters: {} }), /EISDIR|directory/);
      assert.deepEqual(await readdir(path.join(root, 'volumes')), [], 'no volume directory stays behind');
      await rm(path.join(root, '.meta', 'volumes', `${id}.json`), { recursive: true });

      const made = await driver.create({ volumeId: id, pool, sizeBytes: MiB, parameters: {} });
      await writeFile(path.join(pathOf(ref(made)), 'data'), 'kept');
      const again = await driver.create({ volumeId: id, pool, sizeBytes: MiB, parameters: {} });
      assert.equal(again.backendId, id);
      assert.equal(await readFile(path.join(pathOf(ref(made)), 'data'), 'utf8'), 'kept');
      await driver.delete(ref(made)); // not empty: the checked way
      await driver.delete(ref(made)); // gone: still fine
      assert.deepEqual(await readdir(path.join(root, 'volumes')), []);
      assert.deepEqual(await readdir(path.join(root, '.meta', 'volumes')), []);
    }));

  it('lists a volume whose metadata file is torn, measuring the tree instead, and keeps listing the rest', () =>
    withFixture(async ({ root, driver, pool, pathOf }) => {
      const torn = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 3 * MiB, parameters: {} });
      const fine = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 5 * MiB, parameters: {} });
      await writeFile(path.join(pathOf(ref(torn)), 'data'), randomBytes(8192));
      // A torn file, as older versions wrote (a symlink record cannot be torn).
      await rm(path.join(root, '.meta', 'volumes', `${torn.backendId}.json`));
      await writeFile(path.join(root, '.meta', 'volumes', `${torn.backendId}.json`), '{"version":1,"kind":"vol');
      const listed = new Map((await driver.list(pool)).map((v) => [v.backendId, v]));
      assert.equal(listed.get(fine.backendId)?.sizeBytes, 5 * MiB);
      const measured = listed.get(torn.backendId);
      assert.ok(measured && measured.sizeBytes >= 8192 && measured.sizeBytes < 3 * MiB, `measured ${measured?.sizeBytes}`);
      // A clone from it still works; the source simply has no recorded size to check against.
      const clone = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: ref(torn) } });
      assert.equal((await readFile(path.join(pathOf(ref(clone)), 'data'))).length, 8192);
      await driver.delete(ref(clone));
      await driver.delete(ref(torn));
      assert.deepEqual((await driver.list(pool)).map((v) => v.backendId), [fine.backendId]);
    }));

  it('removes an unmanaged volume only when it is an empty directory (removeEmptyOrphan)', () =>
    withFixture(async ({ root, driver, pool, pathOf }) => {
      const empty = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
      const full = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {} });
      await writeFile(path.join(pathOf(ref(full)), 'data'), 'kept');
      assert.equal(await driver.removeEmptyOrphan(ref(empty)), true);
      assert.equal(existsSync(pathOf(ref(empty))), false);
      assert.equal(existsSync(path.join(root, '.meta', 'volumes', `${empty.backendId}.json`)), false, 'its metadata goes too');
      assert.equal(await driver.removeEmptyOrphan(ref(full)), false);
      assert.equal(await readFile(path.join(pathOf(ref(full)), 'data'), 'utf8'), 'kept');
      assert.equal(await driver.removeEmptyOrphan({ pool, backendId: newId('vol') }), false, 'nothing there');
      await expectCode(driver.removeEmptyOrphan({ pool, backendId: '../x' }), 'INVALID_ARGUMENT');
    }));

  it('refuses to clone into a smaller size than the source', () =>
    withFixture(async ({ driver, pool }) => {
      const volume = await driver.create({ volumeId: newId('vol'), pool, sizeBytes: 8 * MiB, parameters: {} });
      await expectCode(driver.create({ volumeId: newId('vol'), pool, sizeBytes: MiB, parameters: {}, source: { kind: 'volume', ref: ref(volume) } }), 'OUT_OF_RANGE');
      await expectCode(driver.create({ volumeId: newId('vol'), pool, sizeBytes: -1, parameters: {} }), 'INVALID_ARGUMENT');
      await expectCode(driver.create({ volumeId: newId('vol'), pool, sizeBytes: 1.5, parameters: {} }), 'INVALID_ARGUMENT');
    }));

  it('refuses work after close', () =>
    withFixture(async ({ driver, pool }) => {
      await driver.close();
      await expectCode(driver.list(pool), 'UNAVAILABLE');
    }));

  it('validates pool configuration', async () => {
    const make = (params: PoolSpec) => () => createDirDriver(serviceSpec('svc', [params]));
    const field = (e: unknown) => e instanceof PollyError && e.code === 'INVALID_ARGUMENT' && e.details['field'] === 'services.svc.pools.p.path';
    assert.throws(make(poolSpec('p', undefined)), field);
    assert.throws(make(poolSpec('p', 'relative/dir')), field);
    assert.throws(make(poolSpec('p', '/')), field);
    assert.throws(make(poolSpec('p', '/srv/a\u0000b')), field);
    assert.throws(make({ ...poolSpec('p', '/srv/a'), params: { path: 42 } }), field);
    assert.throws(() => createDirDriver(serviceSpec('svc', [poolSpec('a', '/srv/x'), poolSpec('b', '/srv/x/y')])), /services\.svc\.pools\.b\.path/);
    assert.equal(createDirDriver(serviceSpec('svc', [poolSpec('p', '/srv/polly/../polly/p')])).pools()[0], 'p');
  });
});

describe('checkPoolRootsDisjoint', () => {
  const svc = (name: string, ...paths: string[]) => serviceSpec(name, paths.map((p, i) => poolSpec(`p${i}`, p)));
  const cases: { name: string; services: ServiceSpec[]; error?: RegExp }[] = [
    { name: 'disjoint roots', services: [svc('a', '/srv/a', '/srv/b'), svc('b', '/srv/c')] },
    { name: 'a shared name prefix is not nesting', services: [svc('a', '/srv/a'), svc('b', '/srv/ab')] },
    { name: 'the same root in two services', services: [svc('a', '/srv/a'), svc('b', '/srv/a/')], error: /services\.b\.pools\.p0\.path.*same directory as services\.a\.pools\.p0\.path/ },
    { name: 'a root inside another', services: [svc('a', '/srv/a'), svc('b', '/srv/a/deeper')], error: /services\.b\.pools\.p0\.path.*is inside/ },
    { name: 'a root containing another', services: [svc('a', '/srv/a/deeper'), svc('b', '/srv')], error: /services\.b\.pools\.p0\.path.*contains/ },
    { name: 'two pools of one service', services: [svc('a', '/srv/a', '/srv/./a')], error: /services\.a\.pools\.p1\.path/ },
    { name: 'other drivers are not dir pools', services: [svc('a', '/srv/a'), serviceSpec('img', [poolSpec('p0', '/srv/a')], 'image')] },
    { name: 'a relative path', services: [svc('a', 'srv/a')], error: /services\.a\.pools\.p0\.path: must be an absolute path/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) assert.throws(() => checkPoolRootsDisjoint(c.services), (e: unknown) => e instanceof PollyError && e.code === 'INVALID_ARGUMENT' && c.error!.test(e.message));
      else checkPoolRootsDisjoint(c.services);
    });
  }

  it('sees through symlinked paths', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'polly-roots-'));
    try {
      await mkdir(path.join(tmp, 'real'));
      await symlink(path.join(tmp, 'real'), path.join(tmp, 'alias'));
      assert.throws(() => checkPoolRootsDisjoint([svc('a', path.join(tmp, 'real', 'x')), svc('b', path.join(tmp, 'alias', 'x', 'y'))]), /is inside/);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
