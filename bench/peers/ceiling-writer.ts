// The ceiling peer of bench/fanout-veda.ts: the same bytes written sequentially to one file,
// one fdatasync per batch, nothing else. Prints {"seconds":…} on stdout.
//   node bench/peers/ceiling-writer.ts FILE COUNT RECORD_BYTES BATCH
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';

const [file, countText, sizeText, batchText] = process.argv.slice(2);
if (!file || !countText || !sizeText || !batchText) {
  console.error('usage: ceiling-writer.ts FILE COUNT RECORD_BYTES BATCH');
  process.exit(2);
}
const count = Number(countText);
const size = Number(sizeText);
const batch = Number(batchText);
const block = Buffer.alloc(size * batch, 0x61);
const fd = openSync(file, 'w');
const started = performance.now();
for (let done = 0; done < count; done += batch) {
  const n = Math.min(batch, count - done);
  writeSync(fd, block, 0, n * size);
  fdatasyncSync(fd);
}
const seconds = (performance.now() - started) / 1000;
closeSync(fd);
process.stdout.write(`${JSON.stringify({ seconds, count, bytes: count * size })}\n`);
