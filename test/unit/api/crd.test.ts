import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { shardDistributorCrd } from '../../../src/api/index.ts';
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
});
