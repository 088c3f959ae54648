export { loadConfig, type LoadOptions } from './load-config.js';
export { ConfigError, isConfigError, formatProblem, type ConfigProblem } from './config-error.js';
export { parseDuration } from './parse-duration.js';
export { parseHostPort, type HostPort } from './parse-host-port.js';
export { ENV_OVERRIDES, ADMIN_TOKEN_ENV, ENV_ADMIN_TOKEN_NAME, type ConfigFlags } from './apply-overrides.js';
export { CONFIG_DEFAULTS } from './config-defaults.js';
export { DEFAULT_CONFIG_FILE } from './read-config-file.js';
export type { PollyConfig, TokenSpec, LogLevel, ServerConfig, StoreConfig, PlacementConfig } from './polly-config.js';
export { LOG_LEVELS } from './polly-config.js';
