/** CLI option parsers: strict numbers with clear errors, and train's defaults taken from the library's. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { finite, fraction, grid, nonNegative, nonNegativeInt, port, positiveFloat, positiveInt, positiveList, seed, triple } from '../../src/cli/options.js';
import { trainCommand } from '../../src/cli/commands/train.js';
import { demoCommand } from '../../src/cli/commands/demo.js';
import { TRAINING_DEFAULTS } from '../../src/training/defaults.js';

test('integer parsers read whole integers and reject junk, fractions, hex and empty values', () => {
  assert.equal(seed('42'), 42);
  assert.equal(seed('-3'), -3);
  assert.equal(positiveInt(' 7 '), 7);
  assert.equal(nonNegativeInt('0'), 0);
  assert.equal(port('0'), 0);
  for (const bad of ['1x', '', ' ', '1.5', '0x10', '1e3', 'NaN', '9007199254740993']) {
    assert.throws(() => seed(bad), InvalidArgumentError, `seed(${JSON.stringify(bad)})`);
  }
  assert.throws(() => positiveInt('0'), /expected a positive integer/);
  assert.throws(() => nonNegativeInt('-1'), /expected a non-negative integer/);
  assert.throws(() => port('65536'), /port number/);
});

test('number parsers read decimals and exponents and reject junk and out-of-range values', () => {
  assert.equal(finite('-1'), -1);
  assert.equal(finite('7e-4'), 7e-4);
  assert.equal(finite('.5'), 0.5);
  assert.equal(nonNegative('0'), 0);
  assert.equal(positiveFloat('2.5'), 2.5);
  assert.equal(fraction('0.1'), 0.1);
  for (const bad of ['0.1x', '', 'Infinity', '0x10', '1,5']) assert.throws(() => finite(bad), /expected a number/, `finite(${JSON.stringify(bad)})`);
  assert.throws(() => nonNegative('-0.1'), /non-negative/);
  assert.throws(() => positiveFloat('0'), /positive number/);
  assert.throws(() => fraction('1'), /\[0, 1\)/);
  assert.deepEqual(positiveList('5, 10,15'), [5, 10, 15]);
  assert.deepEqual(positiveList(''), []);
  assert.throws(() => positiveList('5,x'), /comma-separated positive numbers/);
  assert.deepEqual(grid('7x5'), [7, 5]);
  assert.deepEqual(grid('3'), [3, 3]);
  for (const bad of ['7y7', '7x', '7x7x7', '0x7', '1.5x2']) assert.throws(() => grid(bad), /expected a grid/, bad);
  assert.deepEqual(triple('0.485,0.456,0.406'), [0.485, 0.456, 0.406]);
  assert.throws(() => triple('1,2,x'), /three comma-separated numbers/);
});

/** The error commander reports when `args` are parsed by `cmd` (its action never runs). */
async function parseError(cmd: ReturnType<typeof trainCommand>, args: string[]): Promise<string> {
  let stderr = '';
  cmd
    .exitOverride()
    .configureOutput({
      writeErr: (s) => {
        stderr += s;
      },
    })
    .action(() => {
      throw new Error('the action ran');
    });
  await assert.rejects(cmd.parseAsync(args, { from: 'user' }));
  return stderr;
}

test('--seed 1x is rejected with an error naming the option, in train and demo', async () => {
  const train = await parseError(trainCommand(), ['--data', 'd', '--clip', 'c', '--concepts', 'c.txt', '--out', 'o', '--seed', '1x']);
  assert.match(train, /option '--seed <n>' argument '1x' is invalid\. expected an integer seed/);
  const demo = await parseError(demoCommand(), ['--seed', '1x']);
  assert.match(demo, /--seed <n>.*'1x' is invalid/);
});

test("train's option defaults are the library's TRAINING_DEFAULTS", () => {
  const cmd = trainCommand();
  const defaults = (flag: string): unknown => cmd.options.find((o) => o.long === flag)?.defaultValue;
  assert.deepEqual(defaults('--grid'), TRAINING_DEFAULTS.grid);
  assert.equal(defaults('--seed'), TRAINING_DEFAULTS.seed);
  assert.equal(defaults('--val-fraction'), TRAINING_DEFAULTS.valFraction);
  assert.equal(defaults('--batch-size'), TRAINING_DEFAULTS.batchSize);
  assert.equal(defaults('--placement'), TRAINING_DEFAULTS.placement);
  assert.equal(defaults('--pooling'), TRAINING_DEFAULTS.pooling);
  assert.equal(defaults('--lr'), TRAINING_DEFAULTS.lr);
  assert.equal(defaults('--steps'), TRAINING_DEFAULTS.maxSteps);
  assert.equal(defaults('--step-samples'), TRAINING_DEFAULTS.stepSamples);
  assert.equal(defaults('--val-every'), TRAINING_DEFAULTS.valEvery);
  assert.equal(defaults('--cutoff'), TRAINING_DEFAULTS.cutoff);
  assert.equal(defaults('--final'), TRAINING_DEFAULTS.finalMode);
  assert.equal(defaults('--lam'), TRAINING_DEFAULTS.lam);
  assert.equal(defaults('--epochs'), TRAINING_DEFAULTS.epochsPerLambda);
});
