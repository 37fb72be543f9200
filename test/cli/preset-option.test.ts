/** `--preset`: a Table 1 setup fills train's and eval's options; every flag given still wins. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { trainCommand } from '../../src/cli/commands/train.js';
import { evalCommand } from '../../src/cli/commands/eval.js';
import { conceptsCommand } from '../../src/cli/commands/concepts.js';
import { PRESETS, presetBackbonePath } from '../../src/presets/index.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { tempDir } from '../helpers/paths.js';

const cache = tempDir('salf-preset-cache-');
const saved = process.env.SALF_CBM_CACHE;
before(() => {
  process.env.SALF_CBM_CACHE = cache;
});
after(() => {
  if (saved === undefined) delete process.env.SALF_CBM_CACHE;
  else process.env.SALF_CBM_CACHE = saved;
});

/** Parses `args` with `cmd`, its action replaced by one that returns the options it gets. */
async function parsed(cmd: Command, args: string[]): Promise<Record<string, unknown>> {
  let flags: Record<string, unknown> | undefined;
  let stderr = '';
  cmd
    .exitOverride()
    .configureOutput({
      writeErr: (s) => {
        stderr += s;
      },
    })
    .action((f: Record<string, unknown>) => {
      flags = f;
    });
  try {
    await cmd.parseAsync(args, { from: 'user' });
  } catch (err) {
    throw new Error(`${(err as Error).message} ${stderr}`);
  }
  return flags!;
}

const classification = (): Command => evalCommand().commands.find((c) => c.name() === 'classification')!;

test("train --preset cub-resnet18 plus overrides gives the preset's values and the overrides", async () => {
  const tiny = writeTinyCnn(join(tempDir(), 'cnn.onnx'));
  const backbone = presetBackbonePath('resnet18_cub');
  mkdirSync(dirname(backbone), { recursive: true });
  copyFileSync(tiny.path, backbone);
  // --epochs before --preset and --lam after it both win; the rest comes from the preset.
  const f = await parsed(trainCommand(), ['--epochs', '7', '--preset', 'cub-resnet18', '--data', '/data/CUB_200_2011', '--out', 'model', '--lam', '0.001']);
  assert.equal(f.lam, 0.001);
  assert.equal(f.epochs, 7);
  assert.equal(f.concepts, 'lfcbm:cub');
  assert.equal(f.clip, 'Xenova/clip-vit-base-patch16');
  assert.deepEqual(f.grid, [7, 7]);
  assert.equal(f.radius, 32);
  assert.equal(f.cutoff, 0.45);
  assert.equal(f.backbone, backbone);
  assert.equal(f.data, 'cub:/data/CUB_200_2011', "the preset's dataset reader");
  assert.equal(f.out, 'model');
  // Without overrides: SPEC step 4's LF-CBM settings for CUB.
  const plain = await parsed(trainCommand(), [
    '--preset',
    'cub-resnet18',
    '--data',
    'imagenet:/elsewhere',
    '--out',
    'm',
    '--grid',
    '5x5',
    '--concepts',
    'mine.txt',
  ]);
  assert.deepEqual([plain.lam, plain.epochs], [2e-4, 5000]);
  assert.deepEqual(plain.grid, [5, 5]);
  assert.equal(plain.concepts, 'mine.txt');
  assert.equal(plain.data, 'imagenet:/elsewhere', 'a reader named in --data is kept');
});

test("eval classification --preset: λ, epochs, CLIP and LF-CBM's concept set, overridable", async () => {
  const f = await parsed(classification(), ['--preset', 'imagenet-resnet50', '--model', 'm', '--data', '/imagenet', '--epochs', '3']);
  assert.equal(f.lam, 1e-4);
  assert.equal(f.epochs, 3);
  assert.equal(f.lfcbmConcepts, 'lfcbm:imagenet');
  assert.equal(f.clip, PRESETS['imagenet-resnet50']!.clip);
  assert.equal(f.data, 'imagenet:/imagenet');
});

test('an unknown preset is refused with the closest names', async () => {
  await assert.rejects(
    parsed(trainCommand(), ['--preset', 'cub-resnet', '--data', 'd', '--out', 'o']),
    /unknown preset "cub-resnet"; did you mean cub-resnet18/,
  );
});

test('a preset whose backbone was never exported says how to make it', async () => {
  await assert.rejects(
    parsed(trainCommand(), ['--preset', 'places365-resnet50', '--data', 'd', '--out', 'o']),
    (err: Error) => err.message.includes(presetBackbonePath('resnet50')) && err.message.includes('tools/export_torchvision_backbones.py resnet50'),
  );
  // An explicit --backbone replaces the preset's.
  const tiny = writeTinyCnn(join(tempDir(), 'other.onnx'));
  const f = await parsed(trainCommand(), ['--preset', 'places365-resnet50', '--data', 'd', '--out', 'o', '--backbone', tiny.path]);
  assert.equal(f.backbone, tiny.path);
  assert.equal(f.lam, 3e-4);
});

test("concepts filter --preset: the setup's CLIP and its dataset's CLIP cutoff, overridable", async () => {
  const filter = (): Command => conceptsCommand().commands.find((c) => c.name() === 'filter')!;
  const f = await parsed(filter(), ['--preset', 'cub-resnet18', '--concepts', 'raw.json', '--out', 'kept.txt']);
  assert.equal(f.clip, PRESETS['cub-resnet18']!.clip, 'the required --clip comes from the preset');
  assert.equal(f.clipCutoff, 0.26);
  const own = await parsed(filter(), ['--clip-cutoff', '0.3', '--preset', 'places365-resnet50', '--concepts', 'raw.json', '--out', 'kept.txt']);
  assert.equal(own.clipCutoff, 0.3);
  assert.equal((await parsed(filter(), ['--preset', 'places365-resnet50', '--concepts', 'raw.json', '--out', 'k.txt'])).clipCutoff, 0.28);
});
