/**
 * Tests that need more than Node (a Python venv, a model export) skip with their reason on a
 * developer's machine, and run (so fail when it is missing) in CI, where `.ci/run` sets `CI`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** Whether CI requires these tests: `CI` set to anything but 0 or false. */
export function requiredInCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env.CI && !['0', 'false'].includes(env.CI.toLowerCase());
}

/** The `skip` option of such a test: `reason` when what it needs is absent and CI does not require it. */
export function skipUnlessPresent(present: boolean, reason: string): string | false {
  return !present && !requiredInCi() ? reason : false;
}

/** The proving-ground trainer, its venv's python, and the `skip` option of a test that runs it. */
export function trainerVenv(): { python: string; trainer: string; skip: string | false } {
  const python = join(repoRoot(), '.venv', 'bin', 'python');
  const ready = existsSync(python) && spawnSync(python, ['-c', 'import torch, numpy, onnx, cv2, PIL']).status === 0;
  return {
    python,
    trainer: join(repoRoot(), 'tools', 'proving_ground', 'train_models.py'),
    skip: skipUnlessPresent(
      ready,
      `no venv with the trainer's packages at ${python}; make it with: python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt`,
    ),
  };
}
