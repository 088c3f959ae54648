import { ConfigError } from './config-error.js';

export const DURATION_ACCEPTED = 'a duration such as 500ms, 30s, 5m, 1h or 1h30m, or a number of milliseconds';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses a duration into whole milliseconds: `500ms`, `30s`, `5m`, `1h`, Go-style sums such as
 * `1h30m`, a number of milliseconds (`250`) or a numeric string of milliseconds (`"250"`).
 * Throws a ConfigError naming `field` otherwise.
 */
export function parseDuration(field: string, value: unknown): number {
  const fail = (what: string): never => {
    throw new ConfigError([{ path: field, message: `${what}; accepted: ${DURATION_ACCEPTED}` }]);
  };
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(`${String(value)} is not a duration`);
    if (value < 0) fail(`${value} is negative`);
    ms = value;
  } else if (typeof value === 'string') {
    const s = value.trim();
    if (/^\d+(?:\.\d+)?$/.test(s)) ms = Number(s);
    else if (DURATION.test(s)) {
      ms = 0;
      for (const m of s.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    } else return fail(`${JSON.stringify(value)} is not a duration`);
  } else {
    return fail(`${value === null ? 'an empty value' : `a ${Array.isArray(value) ? 'list' : typeof value}`} is not a duration`);
  }
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded)) fail(`${JSON.stringify(value)} is too long`);
  return rounded;
}
