/** Runs `salf-cbm serve` as a child process and reads the address it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** A running `salf-cbm serve`. */
export interface ServeProcess {
  url: string;
  /** Everything it printed so far. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts `salf-cbm serve <args>` (compiled CLI) and waits up to `timeoutMs` for its address. */
export function startServe(args: string[], timeoutMs = 60_000): Promise<ServeProcess> {
  const entry = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const child: ChildProcess = spawn(process.execPath, [entry, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  return new Promise((ok, bad) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      bad(new Error(`salf-cbm serve printed no address within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /SALF-CBM explorer: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok({
          url: m[1]!,
          output: () => out,
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      bad(new Error(`salf-cbm serve exited with ${code} before printing its address:\n${out}`));
    });
  });
}
