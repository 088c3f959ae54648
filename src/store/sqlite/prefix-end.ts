/**
 * The smallest string greater than every string that starts with `prefix`, in UTF-8 byte order
 * (which equals code point order), or undefined when no such bound exists (empty prefix, or one
 * made only of U+10FFFF). Keys with the prefix are exactly those in [prefix, prefixEnd(prefix)).
 */
export function prefixEnd(prefix: string): string | undefined {
  const codePoints = Array.from(prefix);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Skip the surrogate range: those code points have no UTF-8 encoding.
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return codePoints.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}
