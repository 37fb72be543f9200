/**
 * Child process for the fault-injection tests (not a test by itself: without SALF_FAULT_CHILD it
 * does nothing). It runs a training or a world generation and kills itself with a real SIGKILL at
 * the point the parent names:
 * - `{ kind: 'train', options, killStage, killAtUpdate }`: at the given progress update of a
 *   training stage (e.g. "concept layer"), or, with killStage "save", while the model folder is
 *   written (when `concepts.json` is renamed into place, after the weights);
 * - `{ kind: 'world', options, killAfter }`: once `killAfter` images of the world are written.
 */
import { syncBuiltinESMExports } from 'node:module';
import fs from 'node:fs';
import { basename } from 'node:path';
import { generateWorld, type GenerateWorldOptions } from '../../src/proving-ground/dataset.js';
import { trainSalfCbm, type TrainSalfCbmOptions } from '../../src/training/train-salf-cbm.js';
import type { Progress } from '../../src/progress.js';

export type FaultChildConfig =
  | { kind: 'train'; options: TrainSalfCbmOptions; killStage?: string; killAtUpdate?: number }
  | { kind: 'world'; options: GenerateWorldOptions; killAfter: number };

const die = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
};

/** A progress that SIGKILLs this process at update `at` of `stage`. */
function killingProgress(stage: string | undefined, at: number): Progress {
  let current = '';
  let updates = 0;
  return {
    start: (s) => {
      current = s;
      updates = 0;
    },
    update: () => {
      if (current === stage && ++updates >= at) die();
    },
    stop: () => undefined,
    log: () => undefined,
  };
}

/** Makes renaming a file called `name` into place SIGKILL this process first. */
function killOnRename(name: string): void {
  const rename = fs.renameSync;
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike): void => {
    if (basename(String(to)) === name) die();
    rename(from, to);
  };
  syncBuiltinESMExports();
}

const raw = process.env.SALF_FAULT_CHILD;
if (raw) {
  const config = JSON.parse(raw) as FaultChildConfig;
  if (config.kind === 'train') {
    if (config.killStage === 'save') killOnRename('concepts.json');
    await trainSalfCbm({ ...config.options, progress: killingProgress(config.killStage, config.killAtUpdate ?? 1) });
  } else {
    await generateWorld({ ...config.options, onProgress: (done) => (done >= config.killAfter ? die() : undefined) });
  }
  process.stdout.write('done\n');
}
