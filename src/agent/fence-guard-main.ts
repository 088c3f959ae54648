/**
 * Entry point of the fence guard process an agent starts (D82): `node fence-guard-main.js
 * <mountDir>`. It runs on its own (own session), so it outlives a SIGKILLed agent.
 */
import { isAbsolute } from 'node:path';
import { pino } from 'pino';
import { runFenceGuard } from './fence-guard.js';

const mountDir = process.argv[2];
const logger = pino({ base: { role: 'fence-guard', pid: process.pid } });
if (mountDir === undefined || !isAbsolute(mountDir)) {
  logger.error({ argv: process.argv.slice(2) }, 'usage: fence-guard-main.js <absolute mount dir>');
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
runFenceGuard(mountDir, logger).then(
  () => process.exit(0),
  (err: unknown) => {
    logger.error({ err }, 'fence guard failed');
    process.exit(1);
  },
);
