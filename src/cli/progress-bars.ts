/** Progress bars for the CLI on top of `cli-progress`; plain lines when stderr is not a terminal. */
import cliProgress from 'cli-progress';
import type { Progress } from '../progress.js';

/** A Progress that draws one bar per stage on stderr. */
export function progressBars(): Progress {
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(stage, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        {
          format: `${stage.padEnd(28)} {bar} {value}/{total} {percentage}% | {duration_formatted} | eta {eta_formatted} {info}`,
          stream: process.stderr,
          noTTYOutput: !process.stderr.isTTY,
          notTTYSchedule: 10_000,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { info: '' });
    },
    update(done, info) {
      bar?.update(done, { info: info ?? '' });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
    log(message) {
      process.stderr.write(`${message}\n`);
    },
  };
}
