/**
 * Milliseconds on CLOCK_MONOTONIC: never steps (an NTP or manual change of the wall clock does
 * not move it) and is the same clock for every process of one boot, so the agent and its fence
 * guard compare deadlines on it (D82).
 */
export const monotonicNow = (): number => Number(process.hrtime.bigint() / 1_000_000n);
