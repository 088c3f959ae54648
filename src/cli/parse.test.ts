import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parseLabelKeys, parseLabelPairs, parseNameList, parseNonNegativeInt, parseSizeOption } from './parse.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('option parsers', () => {
  it('parses sizes with units; a bare number is GiB', () => {
    assert.equal(parseSizeOption('10Gi'), 10 * GiB);
    assert.equal(parseSizeOption('512Mi'), 512 * MiB);
    assert.equal(parseSizeOption('2'), 2 * GiB);
    assert.equal(parseSizeOption('1.5G'), 1.5e9);
    assert.equal(parseSizeOption('1Ti'), 1024 * GiB);
  });

  it('rejects bad sizes with an InvalidArgumentError', () => {
    for (const bad of ['10Qi', 'ten', '0', '-1', '']) {
      assert.throws(() => parseSizeOption(bad), InvalidArgumentError, bad);
    }
  });

  it('parses k=v,k2=v2 labels and adds up repeated flags', () => {
    assert.deepEqual(parseLabelPairs('a=1, b=2'), { a: '1', b: '2' });
    assert.deepEqual(parseLabelPairs('c=x=y', { a: '1' }), { a: '1', c: 'x=y' });
    assert.deepEqual(parseLabelPairs('empty='), { empty: '' });
    assert.throws(() => parseLabelPairs('novalue'), InvalidArgumentError);
    assert.throws(() => parseLabelPairs('=v'), InvalidArgumentError);
  });

  it('parses label keys and refuses key=value there', () => {
    assert.deepEqual(parseLabelKeys('a, b'), ['a', 'b']);
    assert.deepEqual(parseLabelKeys('c', ['a']), ['a', 'c']);
    assert.throws(() => parseLabelKeys('a=1'), InvalidArgumentError);
  });

  it('parses name lists, trimming spaces and dropping duplicates', () => {
    assert.deepEqual(parseNameList('kubernetes1, mesos15'), ['kubernetes1', 'mesos15']);
    assert.deepEqual(parseNameList('a', ['a', 'b']), ['a', 'b']);
    assert.throws(() => parseNameList(' , '), InvalidArgumentError);
  });

  it('parses whole numbers', () => {
    assert.equal(parseNonNegativeInt('300'), 300);
    assert.throws(() => parseNonNegativeInt('3.5'), InvalidArgumentError);
    assert.throws(() => parseNonNegativeInt('x'), InvalidArgumentError);
  });
});
