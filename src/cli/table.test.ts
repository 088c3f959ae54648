import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTable, tableOf } from './table.js';

describe('formatTable', () => {
  it('aligns columns with two spaces and upper-case headers, last column unpadded', () => {
    const out = formatTable(['id', 'name', 'size'], [
      ['vol-1', 'a', '10Gi'],
      ['vol-22', 'longer-name', '1Mi'],
    ]);
    assert.equal(out, ['ID      NAME         SIZE', 'vol-1   a            10Gi', 'vol-22  longer-name  1Mi', ''].join('\n'));
  });

  it('prints only the headers for no rows', () => {
    assert.equal(formatTable(['a', 'b'], []), 'A  B\n');
  });

  it('keeps each row on one line', () => {
    assert.equal(formatTable(['a', 'b'], [['x\ny', 'z']]), 'A    B\nx y  z\n');
  });

  it('draws typed rows through columns', () => {
    const out = tableOf([{ header: 'n', value: (r: { n: number }) => String(r.n) }], [{ n: 1 }, { n: 22 }]);
    assert.equal(out, 'N\n1\n22\n');
  });
});
