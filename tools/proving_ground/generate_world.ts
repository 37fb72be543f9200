/**
 * Writes a proving-ground world (dev tool, used by train_models.py).
 *
 * Usage: npx tsx tools/proving_ground/generate_world.ts --out DIR [--seed 0] [--size 224]
 *          [--train 2000] [--val 400] [--test 400] [--shifted 400]
 */
import { parseArgs } from 'node:util';
import { generateWorld } from '../../src/proving-ground/index.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    seed: { type: 'string', default: '0' },
    size: { type: 'string', default: '224' },
    train: { type: 'string', default: '2000' },
    val: { type: 'string', default: '400' },
    test: { type: 'string', default: '400' },
    shifted: { type: 'string', default: '400' },
  },
});
if (!values.out) {
  console.error('usage: generate_world.ts --out DIR [--seed N] [--size N] [--train N] [--val N] [--test N] [--shifted N]');
  process.exit(2);
}
const int = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got ${v}`);
  return n;
};
const t0 = Date.now();
await generateWorld({
  outDir: values.out,
  seed: int('seed', values.seed),
  size: int('size', values.size),
  counts: {
    train: int('train', values.train),
    val: int('val', values.val),
    test: int('test', values.test),
    shifted: int('shifted', values.shifted),
  },
});
console.log(`world written to ${values.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
