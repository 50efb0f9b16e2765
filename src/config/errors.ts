import { ShardDistributorError } from '../errors.ts';

/** Where in an INI file a problem is; `line` is 1-based and known only when parsing text. */
export interface ConfigLocation {
  readonly file: string;
  readonly section?: string;
  readonly key?: string;
  readonly line?: number;
}

/** The root of the config room's errors; catch this to catch any of them. */
export class ConfigError extends ShardDistributorError {
  readonly file: string;
  readonly section: string | undefined;
  readonly key: string | undefined;
  readonly line: number | undefined;

  constructor(code: string, message: string, location: ConfigLocation, options?: ErrorOptions) {
    super(code, message, options);
    this.file = location.file;
    this.section = location.section;
    this.key = location.key;
    this.line = location.line;
  }
}

/** A section, key or value is wrong: unknown, duplicated, out of range, inconsistent. */
export class ConfigKeyError extends ConfigError {
  constructor(message: string, location: ConfigLocation, options?: ErrorOptions) {
    super('SD_ERR_CONFIG_KEY', message, location, options);
  }
}

/** A `${VAR}` cannot be substituted: unset without a default, or malformed. */
export class ConfigEnvError extends ConfigError {
  constructor(message: string, location: ConfigLocation, options?: ErrorOptions) {
    super('SD_ERR_CONFIG_ENV', message, location, options);
  }
}

/** The file cannot be read or written, or a line is not INI at all. */
export class ConfigFileError extends ConfigError {
  constructor(message: string, location: ConfigLocation, options?: ErrorOptions) {
    super('SD_ERR_CONFIG_FILE', message, location, options);
  }
}

/** A worker's failure policy in its environment (`SD_FAILURE_POLICY`, `SD_MAX_ATTEMPTS`, …) is wrong. */
export class FailureEnvError extends ConfigError {
  constructor(message: string, location: ConfigLocation, options?: ErrorOptions) {
    super('SD_ERR_FAILURE_ENV', message, location, options);
  }
}

/** A worker's NATS connection in its environment (`SD_NATS_URL`, …) is missing or wrong. */
export class NatsEnvError extends ConfigError {
  constructor(message: string, location: ConfigLocation, options?: ErrorOptions) {
    super('SD_ERR_NATS_ENV', message, location, options);
  }
}
