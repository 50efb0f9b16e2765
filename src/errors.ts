/**
 * The root of every error this project throws on purpose. Each failure has its own subclass
 * (in the room it belongs to) with a stable `code` people can grep for, e.g.
 * `SD_ERR_QUEUE_CORRUPT`, and a message that says what is wrong and what to do.
 */
export class ShardDistributorError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
