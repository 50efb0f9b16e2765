/**
 * The oldest nats-server this backend runs on: 2.14 added the consumer reset (ADR-60) that
 * every rewind and every opening consumer uses to go back to its ack floor. On an older
 * server the client refuses the reset with a bare error, at the first restart after a crash.
 */
export const MIN_SERVER_VERSION = '2.14.0';

/** Whether `version` (`2.15.2`, `2.14.0-beta.1`) is older than MIN_SERVER_VERSION; unknown counts as not. */
export function olderThanSupported(version: string | undefined): boolean {
  const parts = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (!parts) return false;
  const [major, minor, patch] = parts.slice(1).map(Number) as [number, number, number];
  const [minMajor, minMinor, minPatch] = MIN_SERVER_VERSION.split('.').map(Number) as [
    number,
    number,
    number,
  ];
  if (major !== minMajor) return major < minMajor;
  if (minor !== minMinor) return minor < minMinor;
  return patch < minPatch;
}
