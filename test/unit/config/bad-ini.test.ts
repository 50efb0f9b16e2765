import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseIni } from '../../../src/config/index.ts';

const dir = join(import.meta.dirname, '../../fixtures/bad-ini');
const files = readdirSync(dir)
  .filter((name) => name.endsWith('.ini'))
  .sort();

// First line of each fixture: `# SD_ERR_CONFIG_…: fragment the message must contain`.
function expectation(text: string): { code: string; fragment: string } {
  const match = /^# (SD_ERR_CONFIG_[A-Z]+): (.+)$/.exec(text.split('\n')[0] ?? '');
  if (!match?.[1] || !match[2]) throw new Error('fixture lacks its "# CODE: fragment" first line');
  return { code: match[1], fragment: match[2] };
}

describe('the malformed INI corpus (test/fixtures/bad-ini)', () => {
  it('holds at least 20 files', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(files)('%s stops start-up with the file, the key and the reason', (name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    const { code, fragment } = expectation(text);
    let thrown: unknown;
    try {
      parseIni(text, { file: name, env: {} });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.code).toBe(code);
    expect(error.file).toBe(name);
    expect(error.message.startsWith(`${name}:`)).toBe(true);
    expect(error.message).toContain(fragment);
  });
});
