/**
 * A server URL fit for a log line or an error: a password or token in it
 * (`nats://user:password@host`, `nats://token@host`) replaced by `***`. The user info runs to
 * the last `@` before the path, as a URL parser reads it: a password may hold `@`. The
 * scheme is optional, as it is to the NATS client (`user:password@host:4222`).
 */
export function withoutSecret(server: string): string {
  return server.replace(
    /^((?:[a-z][a-z0-9+.-]*:\/\/)?)([^/]*)@/i,
    (_, scheme: string, user: string) => {
      const colon = user.indexOf(':');
      return `${scheme}${colon < 0 ? '***' : `${user.slice(0, colon)}:***`}@`;
    },
  );
}

/** A comma-separated list of server URLs, each `withoutSecret`. */
export function serversWithoutSecret(servers: string | readonly string[]): string {
  const list = typeof servers === 'string' ? servers.split(',') : servers;
  return list.map(withoutSecret).join(',');
}
