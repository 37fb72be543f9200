/**
 * The status of a pre-computation's stores: for every store whether it is complete, and for the
 * missing shards the worker that owns each (by the job record's worker count) with the exact
 * `salf-cbm precompute … --shard i/N` command that redoes them.
 */
import type { JobRecord } from './job-record.js';
import { shellJoin } from './job-record.js';
import type { RowStore } from './row-store.js';
import { shardsOfWorker } from './worker-shard.js';

/** One stage's stores and its job record, if a job was started. */
export interface StageStores {
  stage: string;
  stores: readonly { name: string; store: RowStore }[];
  record?: JobRecord;
}

/** The status as lines for people, and the facts behind them. */
export interface StatusReport {
  complete: boolean;
  lines: string[];
  /** Per stage with missing shards: the worker commands that redo them. */
  redo: { stage: string; worker: number; workers: number; command: string }[];
}

/**
 * Status of `stages`. The commands are `salf-cbm precompute <args> --stage <stage> --shard i/N`
 * with the job record's arguments and worker count, or `command` and 1 worker without a record.
 */
export function statusReport(stages: readonly StageStores[], command: readonly string[]): StatusReport {
  const lines: string[] = [];
  const redo: StatusReport['redo'] = [];
  for (const { stage, stores, record } of stages) {
    const workers = record?.workers ?? 1;
    lines.push(
      record
        ? `stage ${stage}: a job of ${workers} worker(s), started ${record.createdAt}`
        : `stage ${stage}: no distributed job (computed by train, or by one \`salf-cbm precompute\`)`,
    );
    const owners = new Set<number>();
    for (const { name, store } of stores) {
      const missing = store.missingShards();
      if (missing.length === 0) {
        lines.push(`  ${name}: complete, ${store.numShards} shard(s), ${store.numRows} image(s), ${mib(store.storedBytes())} in ${store.dir}`);
        continue;
      }
      lines.push(`  ${name}: ${missing.length} of ${store.numShards} shard(s) missing (${ranges(missing)}) in ${store.dir}`);
      for (let w = 0; w < workers; w++) {
        const { first, end } = shardsOfWorker({ index: w, count: workers, source: '' }, store.numShards);
        if (missing.some((s) => s >= first && s < end)) owners.add(w);
      }
    }
    for (const w of [...owners].sort((a, b) => a - b)) {
      const cmd = `salf-cbm precompute ${shellJoin(record?.command ?? command)} --stage ${stage} --shard ${w}/${workers}`;
      redo.push({ stage, worker: w, workers, command: cmd });
      lines.push(`  worker ${w}/${workers} has shards to do: ${cmd}`);
    }
  }
  return { complete: redo.length === 0, lines, redo };
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** `0-3, 7, 9-10` of ascending integers. */
function ranges(xs: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
