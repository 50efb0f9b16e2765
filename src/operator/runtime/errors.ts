import { ShardDistributorError } from '../../errors.ts';

/**
 * A list or watch request the API server refused (anything but a 410, which means relist).
 * `advice` says what to look at; by default the API server and the operator's RBAC.
 */
export class WatchRequestError extends ShardDistributorError {
  readonly statusCode: number | undefined;

  constructor(
    what: string,
    statusCode: number | undefined,
    detail: string,
    options?: ErrorOptions & { advice?: string },
  ) {
    const { advice = 'check the API server and the operator’s RBAC', ...errorOptions } =
      options ?? {};
    super(
      'SD_ERR_WATCH_REQUEST',
      `${what} failed${statusCode === undefined ? '' : ` with HTTP ${statusCode}`}: ${detail}; ` +
        `the informer retries with backoff — ${advice}`,
      errorOptions,
    );
    this.statusCode = statusCode;
  }
}

/** The API server no longer has the requested resourceVersion (HTTP 410 Gone): relist. */
export class ResourceExpiredError extends ShardDistributorError {
  constructor(what: string, detail: string) {
    super('SD_ERR_RESOURCE_EXPIRED', `${what}: resourceVersion expired (${detail}); relisting`);
  }
}

/**
 * This replica could not renew its Lease before the renew deadline, or saw another holder:
 * it stopped reconciling. Exit and let the Deployment restart it, as controller-runtime does.
 */
export class LeaderElectionLostError extends ShardDistributorError {
  constructor(lease: string, identity: string, reason: string) {
    super(
      'SD_ERR_LEADER_ELECTION_LOST',
      `lost leadership of Lease ${lease} as ${identity} (${reason}); exiting so a fresh replica can compete`,
    );
  }
}

/** Invalid runtime options, e.g. a renew deadline not shorter than the lease duration. */
export class RuntimeConfigError extends ShardDistributorError {
  constructor(message: string) {
    super('SD_ERR_RUNTIME_CONFIG', message);
  }
}
