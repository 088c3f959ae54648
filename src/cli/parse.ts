/**
 * Option value parsers for commander. They throw commander's InvalidArgumentError, which
 * commander reports as a usage error naming the option.
 */
import { InvalidArgumentError } from 'commander';
import { parseSize } from '../core/units.js';

/** `k=v,k2=v2`; repeated flags add up. */
export function parseLabelPairs(value: string, previous?: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...(previous ?? {}) };
  for (const part of splitList(value)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`"${part}" is not a label; write key=value (several: k1=v1,k2=v2)`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** `k1,k2` label keys; repeated flags add up. */
export function parseLabelKeys(value: string, previous?: string[]): string[] {
  const keys = splitList(value);
  for (const k of keys) {
    if (k.includes('=')) throw new InvalidArgumentError(`"${k}": give label keys only (k1,k2), not key=value`);
  }
  return [...(previous ?? []), ...keys];
}

/** `a,b` (also `"a, b"`); repeated flags add up; duplicates dropped. */
export function parseNameList(value: string, previous?: string[]): string[] {
  const list = splitList(value);
  if (list.length === 0) throw new InvalidArgumentError('give at least one name (several: a,b)');
  return [...new Set([...(previous ?? []), ...list])];
}

/** `10Gi`, `512Mi`, `1.5G`, `2` (a bare number is GiB) → bytes. */
export function parseSizeOption(value: string): number {
  try {
    return parseSize('size', value);
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/^size: /, '') : String(e);
    throw new InvalidArgumentError(msg);
  }
}

const SECONDS_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `90`, `30s`, `5m`, `1h30m` → seconds (a bare number is seconds). */
export function parseSecondsOption(value: string): number {
  const s = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return positive(Number(s), value);
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(s)) throw new InvalidArgumentError(`"${value}" is not a duration; use seconds (90) or 30s, 5m, 1h30m`);
  let seconds = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) seconds += Number(m[1]) * SECONDS_UNITS[m[2]!]!;
  return positive(seconds, value);
}

function positive(seconds: number, value: string): number {
  if (!(seconds > 0)) throw new InvalidArgumentError(`"${value}" must be longer than 0`);
  return seconds;
}

export function parseNonNegativeInt(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${value}" is too large`);
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = parseNonNegativeInt(value);
  if (n === 0) throw new InvalidArgumentError('must be at least 1');
  return n;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
