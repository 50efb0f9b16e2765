import { describe, expect, it } from 'vitest';
import { serversWithoutSecret, withoutSecret } from '../../../src/config/index.ts';

describe('withoutSecret', () => {
  it.each([
    ['nats://alice:s3cret@127.0.0.1:4222', 'nats://alice:***@127.0.0.1:4222'],
    ['tls://token123@nats.example:4222', 'tls://***@nats.example:4222'],
    // A URL parser takes the user info to the last `@`: all of the password goes.
    ['nats://u:p@ss@host:4222', 'nats://u:***@host:4222'],
    ['u:pw@host:4222', 'u:***@host:4222'],
    ['nats://host:4222', 'nats://host:4222'],
    ['nats://host:4222/path@x', 'nats://host:4222/path@x'],
  ])('%s → %s', (url, shown) => {
    expect(withoutSecret(url)).toBe(shown);
  });

  it('takes each server of a list, given as the INI writes it or as a list', () => {
    expect(serversWithoutSecret('nats://a:1@h1:4222,nats://h2:4222')).toBe(
      'nats://a:***@h1:4222,nats://h2:4222',
    );
    expect(serversWithoutSecret(['nats://t@h1', 'nats://h2'])).toBe('nats://***@h1,nats://h2');
  });
});
