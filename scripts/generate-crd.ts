/**
 * Writes the generated CRD: `npm run generate`. Never edit crds/ by hand; a unit test fails
 * when the committed files differ from what this produces.
 */
import { writeFileSync } from 'node:fs';
import { CRD_FILES, renderCrdYaml } from './crd-files.ts';

const yaml = renderCrdYaml();
for (const file of CRD_FILES) {
  writeFileSync(file, yaml);
  console.log(`wrote ${file}`);
}
