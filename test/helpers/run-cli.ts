/** Runs the `salf-cbm` CLI in a child process, from dist/ when compiled, from src/ with tsx otherwise. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './paths.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[]): CliResult {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js');
  const root = repoRoot();
  const entry = compiled ? join(root, 'dist', 'src', 'cli', 'main.js') : join(root, 'src', 'cli', 'main.ts');
  if (!existsSync(entry)) throw new Error(`CLI entry ${entry} not found`);
  const nodeArgs = compiled ? [entry, ...args] : ['--import', 'tsx', entry, ...args];
  const r = spawnSync(process.execPath, nodeArgs, { encoding: 'utf8', cwd: root, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
