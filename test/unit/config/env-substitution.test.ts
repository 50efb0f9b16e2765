import { describe, expect, it } from 'vitest';
import { escapeEnv, substituteEnv } from '../../../src/config/env-substitution.ts';

const env = { HOST: 'nats', EMPTY: '', PORT: '4222' };

function value(text: string): string {
  const result = substituteEnv(text, env);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

function reason(text: string): string {
  const result = substituteEnv(text, env);
  if (result.ok) throw new Error(`expected ${text} to fail, got ${result.value}`);
  return result.reason;
}

describe('substituteEnv', () => {
  it('replaces ${VAR} with its value, several times in one value', () => {
    expect(value('nats://${HOST}:${PORT}')).toBe('nats://nats:4222');
  });

  it('gives "" for a set but empty ${VAR}', () => {
    expect(value('a${EMPTY}b')).toBe('ab');
  });

  it('uses the default of ${VAR:-default} when VAR is unset or empty, as a shell does', () => {
    expect(value('${MISSING:-/tmp/q}')).toBe('/tmp/q');
    expect(value('${EMPTY:-fallback}')).toBe('fallback');
    expect(value('${HOST:-other}')).toBe('nats');
    expect(value('${MISSING:-}')).toBe('');
  });

  it('keeps a default with spaces and colons as it is', () => {
    expect(value('${MISSING:-a b:c}')).toBe('a b:c');
  });

  it('leaves a $ that does not start ${ alone', () => {
    expect(value('cost $5, $HOME, {HOST}')).toBe('cost $5, $HOME, {HOST}');
  });

  it('reads $${ as a literal ${', () => {
    expect(value('$${HOST}')).toBe('${HOST}');
    // Read left to right: a `$`, then the escape `$${`.
    expect(value('$$${HOST}')).toBe('$${HOST}');
  });

  it('names an unset variable without a default and how to fix it', () => {
    expect(reason('${MISSING}')).toBe(
      'uses environment variable MISSING, which is not set and has no default; set MISSING or write ${MISSING:-default}',
    );
  });

  it('rejects an unclosed ${ and a malformed name', () => {
    expect(reason('a ${HOST')).toContain('unclosed "${" at character 3');
    expect(reason('${}')).toContain('malformed "${}"');
    expect(reason('${A-B}')).toContain('malformed "${A-B}"');
    expect(reason('${A:=x}')).toContain('malformed "${A:=x}"');
  });
});

describe('escapeEnv', () => {
  it.each(['${HOST}', '$${HOST}', 'a$${b}${c}$', '$', '$$', '{}', 'plain'])(
    'substituteEnv(escapeEnv(%j)) gives the text back',
    (text) => {
      expect(value(escapeEnv(text))).toBe(text);
    },
  );
});
