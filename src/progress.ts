/**
 * Progress reporting for long work. Library functions take an optional `Progress`; the CLI
 * turns it into progress bars.
 */
export interface Progress {
  /** A stage begins with `total` units of work (images, steps …). */
  start(stage: string, total: number): void;
  /** `done` units of the current stage are finished; `info` is a short status (e.g. a loss). */
  update(done: number, info?: string): void;
  /** The current stage is finished. */
  stop(): void;
  /** A message that is not progress (a warning, a skipped file). */
  log(message: string): void;
}

/** A Progress that reports nothing. */
export const silentProgress: Progress = {
  start() {},
  update() {},
  stop() {},
  log() {},
};
