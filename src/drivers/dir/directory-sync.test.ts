import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
});
