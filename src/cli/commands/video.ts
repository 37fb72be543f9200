/** `salf-cbm video`: explain a video (or a folder of frames) frame by frame and animate concept heatmaps. */
import { Command } from 'commander';
import { explainVideo } from '../../explain/video.js';
import { short } from '../../explain/svg.js';
import { finite, oneOf, positiveInt } from '../options.js';
import { addModelOptions, collect, modelEngine, openModel, pct } from './explain-shared.js';

export function videoCommand(): Command {
  const cmd = new Command('video')
    .description('explain a video frame by frame: predictions, tracked concepts, and their heatmaps as an animation')
    .argument('<source>', 'a folder of frames (sorted by name) or a video file (decoded with ffmpeg, which must be installed)');
  addModelOptions(cmd);
  return cmd
    .requiredOption('--concept <name>', 'a concept whose heatmap is tracked (repeatable)', collect)
    .requiredOption('--out <dir>', 'where video.json and the heatmap animations go')
    .option('--format <format>', 'gif or webp (animated), or frames (a PNG per frame)', oneOf('gif', 'webp', 'frames'), 'gif')
    .option('--fps <n>', 'frames per second sampled from a video file, and of the animation', finite, 5)
    .option('--max-frames <n>', 'at most this many frames', positiveInt, 300)
    .option('--view-size <px>', 'longer side of the pictures', positiveInt, 256)
    .option('--ffmpeg <path>', 'the ffmpeg executable', 'ffmpeg')
    .option('--skip-bad', 'leave out frames that cannot be decoded (or differ in size from the first) and report them, instead of stopping')
    .option('--json', 'print JSON instead of text')
    .action(async (source: string, flags) => {
      await using engine = modelEngine(flags);
      await using model = await openModel(flags, engine);
      const res = await explainVideo(model, source, flags.out, {
        concepts: flags.concept,
        fps: flags.fps,
        maxFrames: flags.maxFrames,
        format: flags.format,
        viewSize: flags.viewSize,
        ffmpeg: flags.ffmpeg,
        skipBad: flags.skipBad === true,
      });
      for (const s of res.skipped) process.stderr.write(`skipped frame ${s.frame}: ${s.reason}\n`);
      if (res.skipped.length > 0) process.stderr.write(`${res.skipped.length} of ${res.skipped.length + res.frames.length} frames skipped\n`);
      if (flags.json) {
        console.log(
          JSON.stringify(
            {
              frames: res.frames.map(({ concepts, ...f }) => ({ ...f, concepts: concepts.map(({ map: _map, ...c }) => c) })),
              skipped: res.skipped,
              ranges: res.ranges,
              files: res.files,
            },
            null,
            2,
          ),
        );
        return;
      }
      for (const f of res.frames) {
        console.log(
          `frame ${f.frame}\t${f.prediction.class} ${pct(f.prediction.probability)}\t${f.concepts.map((c) => `${c.concept} ${short(c.activation)} (peak at row ${c.peakCell[0]}, col ${c.peakCell[1]})`).join('\t')}`,
        );
      }
      console.log(`wrote ${res.files.length} files under ${flags.out}`);
    });
}
