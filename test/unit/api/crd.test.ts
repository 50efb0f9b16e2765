import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { InvalidSpecError, shardDistributorCrd, withDefaults } from '../../../src/api/index.ts';
import { CRD_FILES, renderCrdYaml } from '../../../scripts/crd-files.ts';

describe('the generated CRD', () => {
  it.each(CRD_FILES)('is committed up to date in %s (run `npm run generate` if not)', (file) => {
    expect(readFileSync(file, 'utf8')).toBe(renderCrdYaml());
  });

  it('holds only structural schema: no TypeBox internals, no patternProperties, no const', () => {
    const text = JSON.stringify(shardDistributorCrd());
    expect(text).not.toMatch(/"(patternProperties|const|\$id|\[Kind\])"/);
  });

  it('does not mark a field with a default as required', () => {
    const visit = (node: any, path: string): string[] => {
      if (!node || typeof node !== 'object') return [];
      const found: string[] = [];
      for (const key of node.required ?? []) {
        if (node.properties?.[key]?.default !== undefined) found.push(`${path}.${key}`);
      }
      for (const [key, child] of Object.entries(node.properties ?? {}))
        found.push(...visit(child, `${path}.${key}`));
      if (node.items) found.push(...visit(node.items, `${path}[]`));
      return found;
    };
    const schema = parse(renderCrdYaml()).spec.versions[0].schema.openAPIV3Schema;
    expect(visit(schema, '')).toEqual([]);
  });

  describe('the argsTemplate placeholder rule', () => {
    const schema = shardDistributorCrd().spec.versions[0]!.schema.openAPIV3Schema.properties
      .spec as any;
    const rule: string =
      schema.properties.worker.properties.argsTemplate['x-kubernetes-validations'][0].rule;
    // The CEL rule holds an RE2 pattern in a CEL string literal; this simple one means the same in JS.
    const pattern = new RegExp(/matches\('(.*)'\)\)$/.exec(rule)![1]!.replaceAll('\\\\', '\\'));

    it.each([
      '--base',
      '{worker_base_path}',
      '--sub={sub_queue_name}',
      '{src}-{sleep_empty_sec}',
      'plain text',
    ])('accepts %s', (arg) => expect(pattern.test(arg)).toBe(true));

    it.each(['{queue}', '{ worker_base_path }', '{', 'a}b', '{{src}}', '{SRC}'])(
      'rejects %s',
      (arg) => expect(pattern.test(arg)).toBe(false),
    );
  });

  describe('queue.nats.tls', () => {
    const spec = shardDistributorCrd().spec.versions[0]!.schema.openAPIV3Schema.properties
      .spec as any;
    const tls = spec.properties.queue.properties.nats.properties.tls;
    const ref = (name: string, key: string) => ({ name, key });

    it('holds three optional Secret key references, never a value', () => {
      expect(tls.type).toBe('object');
      expect(Object.keys(tls.properties)).toEqual(['caSecret', 'certSecret', 'keySecret']);
      expect(tls.required).toBeUndefined();
      for (const field of ['caSecret', 'certSecret', 'keySecret']) {
        expect(tls.properties[field], field).toMatchObject({
          type: 'object',
          required: ['name', 'key'],
          properties: { name: { type: 'string' }, key: { type: 'string' } },
        });
      }
      expect(spec.properties.queue.properties.nats.required).not.toContain('tls');
    });

    // The CEL rules, read as JavaScript: has(self.f) is `f in self`; nothing else may appear.
    const rules = tls['x-kubernetes-validations'] as {
      rule: string;
      message: string;
      fieldPath: string;
    }[];
    const jsOf = (rule: string) => rule.replace(/has\(self\.(\w+)\)/g, "('$1' in self)");
    const checks = rules.map(
      ({ rule }) => new Function('self', `return ${jsOf(rule)};`) as (self: object) => boolean,
    );
    const holds = (self: object) => checks.every((check) => check(self));

    it('has one CEL rule per field of the pair, each naming the field it puts its error on', () => {
      expect(rules.map((r) => r.fieldPath)).toEqual(['.keySecret', '.certSecret']);
      for (const { rule, message, fieldPath } of rules) {
        expect(jsOf(rule)).toMatch(/^[\s\w'()=!&|]+$/);
        expect(message).toMatch(
          new RegExp(
            `^queue\\.nats\\.tls\\.${fieldPath.slice(1)} is required with .*both or neither`,
          ),
        );
      }
    });

    it.each([
      ['nothing', {}],
      ['only caSecret', { caSecret: ref('ca', 'ca.crt') }],
      [
        'certSecret with keySecret',
        { certSecret: ref('c', 'tls.crt'), keySecret: ref('c', 'tls.key') },
      ],
      [
        'all three',
        {
          caSecret: ref('ca', 'ca.crt'),
          certSecret: ref('c', 'tls.crt'),
          keySecret: ref('c', 'tls.key'),
        },
      ],
    ])('accepts %s', (_what, value) => expect(holds(value)).toBe(true));

    it.each([
      ['certSecret without keySecret', { certSecret: ref('c', 'tls.crt') }],
      [
        'keySecret without certSecret',
        { caSecret: ref('ca', 'ca.crt'), keySecret: ref('c', 'tls.key') },
      ],
    ])('rejects %s', (_what, value) => {
      expect(holds(value)).toBe(false);
      // Only the rule of the missing field fails, so the error names that field.
      expect(checks.filter((check) => !check(value))).toHaveLength(1);
    });

    it('is in the spec type: withDefaults keeps it, and refuses a reference without its key', () => {
      const base = {
        queue: { backend: 'nats', mainQueue: 'orders', nats: { url: 'nats://n:4222' } },
        worker: { image: 'w:1', command: ['/w'] },
      };
      const tlsSpec = { caSecret: ref('ca', 'ca.crt') };
      const spec = withDefaults({
        ...base,
        queue: { ...base.queue, nats: { ...base.queue.nats, tls: tlsSpec } },
      });
      expect(spec.queue.nats?.tls).toEqual(tlsSpec);
      expect(() =>
        withDefaults({
          ...base,
          queue: { ...base.queue, nats: { ...base.queue.nats, tls: { caSecret: { name: 'ca' } } } },
        }),
      ).toThrow(InvalidSpecError);
    });
  });
});
