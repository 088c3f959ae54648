import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollyError } from './errors.js';
import { MAX_LABELS, MAX_LABEL_VALUE_BYTES, checkLabelKey, checkLabels, checkName } from './names.js';

function rejects(fn: () => unknown, field: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PollyError);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.equal(e.details['field'], field);
    assert.ok(e.message.startsWith(`${field}: `), e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('checkName', () => {
  const good = ['a', 'A', '0', 'db1', 'my-volume', 'my_volume', 'v1.2', 'a.b.c', 'x-', 'n'.repeat(128), 'ABCxyz019._-'];
  for (const name of good) it(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 10)}…(${name.length})` : name)}`, () => assert.equal(checkName('name', name), name));

  const bad: [string, unknown, RegExp][] = [
    ['empty', '', /required/],
    ['not a string (number)', 5, /required/],
    ['not a string (undefined)', undefined, /required/],
    ['not a string (object)', { toString: () => 'x' }, /required/],
    ['129 characters', 'n'.repeat(129), /1-128 characters/],
    ['.', '.', /1-128/],
    ['..', '..', /1-128/],
    ['../etc', '../etc', /1-128/],
    ['a/../b', 'a/../b', /1-128/],
    ['a..b', 'a..b', /not contain "\.\."/],
    ['trailing ..', 'ab..', /1-128/],
    ['slash', 'a/b', /1-128/],
    ['backslash', 'a\\b', /1-128/],
    ['leading dot', '.hidden', /start with a letter or digit/],
    ['leading dash', '-rf', /1-128/],
    ['leading underscore', '_x', /1-128/],
    ['space', 'a b', /1-128/],
    ['NUL', 'a\u0000b', /control characters/],
    ['newline', 'a\nb', /control characters/],
    ['trailing newline', 'abc\n', /control characters/],
    ['tab', '\tabc', /control characters/],
    ['escape', 'a\u001b[31m', /control characters/],
    ['DEL', 'a\u007f', /control characters/],
    ['non-ASCII letter', 'café', /1-128/],
    ['unicode slash look-alike', 'a\u2215b', /1-128/],
    ['colon', 'c:x', /1-128/],
  ];
  for (const [what, value, message] of bad) {
    it(`rejects ${what}, naming the field`, () => rejects(() => checkName('spec.name', value), 'spec.name', message));
  }
});

describe('checkLabelKey', () => {
  for (const key of ['a', 'app.kubernetes.io/name', 'x_y-z', 'k'.repeat(128)]) {
    it(`accepts ${key.slice(0, 30)}`, () => assert.equal(checkLabelKey('labels', key), key));
  }
  for (const key of ['', 'k'.repeat(129), '../x', 'a/../b', 'a..b', '/abs', '.x', 'a b', 'a\nb', 'a=b', 'é']) {
    it(`rejects ${JSON.stringify(key.slice(0, 30))}`, () => rejects(() => checkLabelKey('labels', key), 'labels'));
  }
});

describe('checkLabels', () => {
  it('undefined and null are no labels', () => {
    assert.deepEqual(checkLabels('labels', undefined), {});
    assert.deepEqual(checkLabels('labels', null), {});
  });

  it('returns a copy of valid labels', () => {
    const input = { a: '1', 'app.kubernetes.io/name': 'pg', empty: '' };
    const out = checkLabels('labels', input);
    assert.deepEqual(out, input);
    assert.notEqual(out, input);
  });

  it(`accepts ${MAX_LABELS} labels and values of ${MAX_LABEL_VALUE_BYTES} bytes`, () => {
    const many = Object.fromEntries(Array.from({ length: MAX_LABELS }, (_, i) => [`k${i}`, 'v'.repeat(MAX_LABEL_VALUE_BYTES)]));
    assert.equal(Object.keys(checkLabels('labels', many)).length, MAX_LABELS);
  });

  const bad: [string, unknown, string, RegExp][] = [
    ['a string', 'a=b', 'labels', /object/],
    ['an array', ['a'], 'labels', /object/],
    ['a number', 7, 'labels', /object/],
    ['too many', Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, 'v'])), 'labels', /at most 64/],
    ['a bad key', { '../k': 'v' }, 'labels.../k', /label keys/],
    ['a number value', { k: 1 }, 'labels.k', /string/],
    ['a null value', { k: null }, 'labels.k', /string/],
    ['a control character in a value', { k: 'a\u0000b' }, 'labels.k', /control/],
    ['a newline in a value', { k: 'line\nbreak' }, 'labels.k', /control/],
    ['a value over 256 bytes', { k: 'v'.repeat(257) }, 'labels.k', /256 bytes/],
    ['a multi-byte value over 256 bytes in fewer characters', { k: 'é'.repeat(129) }, 'labels.k', /256 bytes/],
  ];
  for (const [what, value, field, message] of bad) {
    it(`rejects ${what}, naming ${field}`, () => rejects(() => checkLabels('labels', value), field, message));
  }
});
