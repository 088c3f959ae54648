/**
 * The fence guard's own parts (D82), with real processes, files and a real mount (root): which
 * process counts as the guard of a mount dir, what a valid lease file is, and that the guard
 * goes by the monotonic deadline, not by the wall clock (which may step).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { silentLogger } from '../core/ports/logger.js';
import { runCommand } from '../drivers/node/run-command.js';
import { cleanupHostDir, findmnt } from '../drivers/node/testing/host-cleanup.js';
import { guardPaths, isGuardOf, readLease, runFenceGuard } from './fence-guard.js';
import { monotonicNow } from './monotonic-clock.js';

let dir: string | undefined;
const procs: ChildProcess[] = [];

afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  if (dir) await cleanupHostDir(dir);
  dir = undefined;
});

const temp = (): string => (dir = mkdtempSync(join(tmpdir(), 'polly-guard-unit-')));

describe('fence guard', { timeout: 30_000 }, () => {
  it('a guard of /m2 is not the guard of /m: the mount dir argument must match exactly', async () => {
    const m = join(temp(), 'm');
    const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', '/opt/polly/dist/src/agent/fence-guard-main.js', `${m}2`], { stdio: 'ignore' });
    procs.push(p);
    await new Promise((r) => p.once('spawn', r));
    assert.equal(isGuardOf(p.pid, `${m}2`), true);
    assert.equal(isGuardOf(p.pid, m), false);
    assert.equal(isGuardOf(p.pid, `${m}2/x`), false);
    assert.equal(isGuardOf(process.pid, m), false);
    assert.equal(isGuardOf(undefined, m), false);
  });

  it('reads only a complete, valid lease file', () => {
    const file = join(temp(), 'lease.json');
    const read = (text: string) => {
      writeFileSync(file, text);
      return readLease(file);
    };
    assert.deepEqual(read('{"monotonicDeadlineMs":1234,"deadline":1700000000000}'), { monotonicDeadlineMs: 1234, deadline: 1700000000000 });
    assert.equal(read('{"deadline":1700000000000}'), undefined, 'a wall-clock deadline alone is not a lease');
    assert.equal(read('{"monotonicDeadlineMs":"1234","deadline":1}'), undefined);
    assert.equal(read('{"monotonicDeadlineMs":-1,"deadline":1}'), undefined);
    assert.equal(read('{"monotonicDeadlineMs":1e999,"deadline":1}'), undefined);
    assert.equal(read('null'), undefined);
    assert.equal(read('{"monotonicDeadlineMs":12'), undefined);
    assert.equal(readLease(join(dir!, 'missing.json')), undefined);
  });

  it('fences at the monotonic deadline even when the wall-clock one lies ahead (the clock was set back)', async () => {
    const mountDir = join(temp(), 'mounts');
    const vol = join(mountDir, 'vol-1');
    mkdirSync(vol, { recursive: true });
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'guard-unit', vol]);
    const paths = guardPaths(mountDir);
    mkdirSync(paths.dir);
    // Passed on the monotonic clock; an hour ahead on the wall clock.
    writeFileSync(paths.lease, JSON.stringify({ monotonicDeadlineMs: monotonicNow() - 1, deadline: Date.now() + 3_600_000 }));
    // With nothing left mounted and no agent alive, the guard exits after the fence.
    await runFenceGuard(mountDir, silentLogger);
    assert.equal(await findmnt(vol), undefined, 'fenced: unmounted');
  });
});
