import { randomFillSync } from 'node:crypto';

/** Crockford's base32, as ULIDs use it. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const RANDOM_CHARS = 16; // 80 bits

let lastTime = -1;
let lastRandom: number[] = [];

/** Random bytes drawn 1,000 at a time: one call into the CSPRNG per hundred ids. */
const pool = Buffer.alloc(1000);
let used = pool.length;

/** 80 random bits as 16 base32 digits. */
function freshRandom(): number[] {
  if (used + 10 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = pool.subarray(used, (used += 10));
  const digits: number[] = [];
  // Five bytes are exactly eight base32 digits.
  for (let half = 0; half < 10; half += 5) {
    let v = 0; // 40 bits: exact in a double
    for (let i = half; i < half + 5; i++) v = v * 256 + bytes[i]!;
    for (let d = 7; d >= 0; d--) digits.push(Math.floor(v / 32 ** d) % 32);
  }
  return digits;
}

/** The same random part plus one, so ids made in the same millisecond stay ordered. */
function increment(digits: number[]): number[] {
  const next = [...digits];
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 31) {
      next[i]!++;
      return next;
    }
    next[i] = 0;
  }
  throw new Error('id space of this millisecond is exhausted');
}

/** A lowercase monotonic ULID: 10 digits of milliseconds, then 16 random digits. */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime) {
    lastRandom = increment(lastRandom);
  } else {
    lastTime = now;
    lastRandom = freshRandom();
  }
  let time = '';
  for (let t = lastTime, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32]! + time;
  return time + lastRandom.map((d) => ALPHABET[d]).join('');
}

/** Opaque, unique, time-ordered ids: a kind prefix and a lowercase ULID ("vol-01j…"). */
export function newId(kind: 'vol' | 'snap' | 'op' | 'clm' | 'evt'): string {
  return `${kind}-${ulid()}`;
}

const ID = /^(vol|snap|op|clm)-[0-9a-z]{26}$/;

export const isPollyId = (value: string): boolean => ID.test(value);
