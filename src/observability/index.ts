export { createLogger, logDestination, silentLogger } from './logger.ts';
export type { Logger } from './logger.ts';
export { createRegistry } from './registry.ts';
export { ListenError, startObservabilityServer } from './http-server.ts';
export type { ObservabilityServer, ObservabilityServerOptions, Probe } from './http-server.ts';
