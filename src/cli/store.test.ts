import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { useFakePolly } from './testing/fake-polly.js';

describe('polly store', () => {
  const { polly, sent } = useFakePolly();
  const erases = () => sent().filter((r) => r.path === '/v1/store/erase');

  it('get prints key: value YAML (2016 style) across pages', async () => {
    const r = await polly(['store', 'get', '--prefix', 'polly/']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parse(r.stdout), { 'polly/volumes/vol-1': { id: 'vol-1', name: 'one' }, 'polly/volumes/vol-2': 'plain' });
    assert.match(r.stdout, /^polly\/volumes\/vol-2: plain$/m);
    assert.equal(sent()[0]!.query.get('prefix'), 'polly/');
    assert.equal(sent().length, 2);
  });

  it('get as JSON keeps revisions', async () => {
    const r = await polly(['store', 'get', '--format', 'json']);
    assert.deepEqual((JSON.parse(r.stdout) as { revision: number }[]).map((e) => e.revision), [4, 5]);
  });

  it('get as a table', async () => {
    const r = await polly(['store', 'get', '--format', 'table']);
    assert.match(r.stdout, /^KEY\s+REVISION\s+VALUE\npolly\/volumes\/vol-1\s+4\s+\{"id":"vol-1","name":"one"\}\n/);
  });

  it('erase refuses without --yes when stdin is not a terminal (exit 2, nothing erased)', async () => {
    const r = await polly(['store', 'erase'], { stdinTTY: false, input: 'yes\n' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to erase the store without confirmation: stdin is not a terminal; pass --yes/);
    assert.equal(erases().length, 0);
  });

  it('erase --yes erases', async () => {
    const r = await polly(['store', 'erase', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parse(r.stdout), { erased: 2 });
    assert.deepEqual(erases()[0]!.body, { confirm: true });
  });

  it('erase on a terminal asks, and goes on when "yes" is typed', async () => {
    const r = await polly(['store', 'erase'], { stdinTTY: true, input: 'yes\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Type yes to continue: $/);
    assert.equal(erases().length, 1);
  });

  it('erase on a terminal stops on any other answer (exit 1)', async () => {
    for (const input of ['no\n', 'y\n', '']) {
      const r = await polly(['store', 'erase'], { stdinTTY: true, input });
      assert.equal(r.code, 1, JSON.stringify(input));
      assert.match(r.stderr, /Error: store erase aborted/);
    }
    assert.equal(erases().length, 0);
  });
});
