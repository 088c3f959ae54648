import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SafeDir, withSafeDir } from './safe-dir.js';

describe('SafeDir', () => {
  it('keeps using the directory it opened and never follows a swapped-in symlink', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'polly-safedir-'));
    try {
      const tree = path.join(tmp, 'tree');
      await mkdir(path.join(tree, 'sub'), { recursive: true });
      await writeFile(path.join(tree, 'sub', 'file'), 'inside');
      await mkdir(path.join(tmp, 'outside'));
      await writeFile(path.join(tmp, 'outside', 'file'), 'outside');
      await withSafeDir(tree, async (dir) => {
        const sub = Buffer.from('sub');
        // The workload swaps the directory for a symlink to somewhere else after we listed it.
        await rename(path.join(tree, 'sub'), path.join(tmp, 'moved'));
        await symlink(path.join(tmp, 'outside'), path.join(tree, 'sub'));
        await assert.rejects(dir.openDir(sub), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' || e.code === 'ELOOP');
        await assert.rejects(dir.openFile(sub), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
        assert.equal((await dir.readlink(sub)).toString(), path.join(tmp, 'outside'));
      });
      // A moved directory stays the one we opened: lookups go through the descriptor.
      const moved = await SafeDir.open(path.join(tmp, 'moved'));
      try {
        await rename(path.join(tmp, 'moved'), path.join(tmp, 'moved-again'));
        const { handle } = await moved.openFile(Buffer.from('file'));
        assert.equal((await handle.readFile()).toString(), 'inside');
        await handle.close();
      } finally {
        await moved.close();
      }
      await assert.rejects(SafeDir.open(path.join(tree, 'sub')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' || e.code === 'ELOOP');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
