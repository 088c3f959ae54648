import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DirectorySync } from './directory-sync.js';

describe('DirectorySync', () => {
  it('settles every caller, sharing rounds among concurrent callers', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'polly-dsync-'));
    try {
      const group = new DirectorySync();
      const calls = await Promise.allSettled(Array.from({ length: 50 }, async (_, i) => {
        await writeFile(path.join(dir, `f${i}`), 'x');
        await group.sync(dir);
      }));
      assert.ok(calls.every((c) => c.status === 'fulfilled'));
      await group.sync(dir); // a later call starts a fresh round
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects the callers of a round whose fsync fails, and recovers afterwards', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'polly-dsync-'));
    try {
      const group = new DirectorySync();
      const missing = path.join(dir, 'missing');
      const results = await Promise.allSettled([group.sync(missing), group.sync(missing), group.sync(missing)]);
      assert.ok(results.every((r) => r.status === 'rejected' && /ENOENT/.test(String(r.reason))));
      await group.sync(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps one descriptor per directory across rounds and releases it on close', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'polly-dsync-'));
    const fds = async () => (await readdir('/proc/self/fd')).length;
    try {
      const group = new DirectorySync();
      const before = await fds();
      for (let round = 0; round < 5; round++) {
        await writeFile(path.join(dir, `r${round}`), 'x');
        await Promise.all([group.sync(dir), group.sync(dir)]);
      }
      assert.equal(await fds(), before + 1, 'one descriptor for the directory, whatever the rounds');
      await group.close();
      assert.equal(await fds(), before);
      await group.sync(dir); // opens it again
      const syncing = group.sync(dir);
      group.reset(); // forgets it; closes it once the running round is done
      await syncing;
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await fds(), before, 'a reset closes the directory once its round ended');
      await group.sync(dir);
      await group.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
