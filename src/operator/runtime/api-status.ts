/**
 * The message of the API server's metav1.Status in a response body (JSON text or parsed),
 * undefined when the body is not one: what a person should read of a refused request.
 */
export function apiStatusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (parsed as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}
