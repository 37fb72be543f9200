/**
 * `npm run smoke`: trains and predicts end to end from a clean state with tiny models the
 * project generates (a random-weight CNN and a random-weight CLIP pair). The weights are random,
 * so this proves the plumbing (every stage runs and the files round-trip), not explanations.
 * The dataset is two colour classes, which even random features separate.
 *
 * Last line: `smoke ok accuracy=<accuracy of the reloaded model on all 24 images>`.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SalfCbm } from '../src/models/salf-cbm.js';
import { trainSalfCbm } from '../src/training/train-salf-cbm.js';
import { writeTinyTrainingInputs } from '../test/helpers/tiny-training.js';
import { progressBars } from '../src/cli/progress-bars.js';

async function main(): Promise<void> {
  const root = join(tmpdir(), `salf-smoke-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  const inputs = await writeTinyTrainingInputs(root, 12);
  const data = inputs.data;
  const out = join(root, 'model');
  await trainSalfCbm({
    ...inputs,
    concepts: ['red', 'blue', 'green', 'striped', 'round', 'sky', 'grass', 'water'],
    out,
    grid: [3, 3],
    cbl: { maxSteps: 60, valEvery: 10, cutoff: -1 },
    finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 200 },
    progress: progressBars(),
  });
  const model = SalfCbm.load(out);
  // Every image, through the reloaded model (class labels follow the model's own class order).
  const val = model.classes.flatMap((c, label) => Array.from({ length: 12 }, (_, i) => ({ path: join(data, c, `${i}.png`), label })));
  const res = await model.forwardImages(val.map((v) => v.path));
  let correct = 0;
  val.forEach((v, i) => {
    const p = model.probabilities(res, i);
    if (p.indexOf(Math.max(...p)) === v.label) correct++;
  });
  rmSync(root, { recursive: true, force: true });
  console.log(`smoke ok accuracy=${(correct / val.length).toFixed(4)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
