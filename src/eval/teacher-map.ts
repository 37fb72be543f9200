/**
 * The CLIP teacher's class map for the zero-shot segmentation evaluation (SPEC "Evaluation
 * protocols" and step 2): P[m_l], the red-circle similarity map of the concept that names class l,
 * for the class SALF-CBM predicts.
 *
 * Why this map: SPEC takes SALF-CBM's class heatmap to be the class's concept map C[m_l] when the
 * model is trained with a concept naming each class, and step 3 fits C[m] to P[m] (cubic cosine
 * over the batch). So P[m_l] is exactly what SALF-CBM's class map is trained to imitate; scored on
 * the same images, for the same class and upsampled the same way, it is the teacher's own figure.
 * (The final layer applied to P instead would mix scales: W_F and the standardisation were fitted
 * to pooled C, whose per-concept offset and scale sim3 leaves free.)
 *
 * P[g] = cos(E_I(x^(g)), E_T(t_{m_l})) over the model's prompting grid, with its recorded radius and
 * centre placement; the image is stretched to CLIP's input size (bicubic), as the masks are
 * stretched to the backbone's.
 */
import { resizeRgb } from '../data/resize.js';
import type { RgbImage } from '../data/rgb-image.js';
import type { Device } from '../engine/session.js';
import { ClipModel } from '../models/clip.js';
import type { SalfCbm } from '../models/salf-cbm.js';
import { PromptedBatchBuilder } from '../similarity/prompted-batch.js';
import type { Placement } from '../similarity/prompting.js';

/**
 * One image's class map from its prompted embeddings: `I` holds G unit embeddings (G×E), `text`
 * the class concept's unit text embedding (E); returns P[g] = I[g]·text, G values.
 */
export function teacherClassMap(I: Float32Array, G: number, E: number, text: Float32Array): Float32Array {
  if (I.length !== G * E) throw new Error(`teacherClassMap: ${I.length} embedding values, expected ${G}×${E}`);
  if (text.length !== E) throw new Error(`teacherClassMap: the text embedding has ${text.length} values, expected ${E}`);
  const map = new Float32Array(G);
  for (let g = 0; g < G; g++) {
    let v = 0;
    for (let e = 0; e < E; e++) v += I[g * E + e]! * text[e]!;
    map[g] = v;
  }
  return map;
}

/** The CLIP model and class-concept text embeddings that give a SALF-CBM's teacher maps. */
export class TeacherClassMaps {
  private constructor(
    readonly clip: ClipModel,
    /** Unit text embeddings of each class's concept, L×E. */
    private readonly classText: Float32Array,
    private readonly builder: PromptedBatchBuilder,
  ) {}

  /**
   * Loads the CLIP model (`clipSource`, else the one recorded in the SALF-CBM's config) and
   * encodes the concept of each class (`classConcept[l]`: its concept index, none may be -1).
   */
  static async load(salf: SalfCbm, classConcept: readonly number[], clipSource?: string, device?: Device): Promise<TeacherClassMaps> {
    const missing = salf.classes.filter((_, l) => !(classConcept[l]! >= 0));
    if (missing.length > 0) {
      throw new Error(
        `segmentation: the teacher map is the class concept's P map, but no concept names the class(es) ${missing
          .slice(0, 5)
          .map((c) => JSON.stringify(c))
          .join(', ')}${missing.length > 5 ? ' …' : ''}; give --class-concept(s)`,
      );
    }
    const clip = await ClipModel.load(clipSource ?? salf.config.clip.source, { device });
    try {
      const classText = await clip.encodeTexts(classConcept.map((m) => salf.concepts[m]!));
      const builder = new PromptedBatchBuilder(
        { size: clip.inputSize, grid: salf.config.grid, radius: salf.config.prompting.radius, placement: salf.config.prompting.placement as Placement },
        clip.mean,
        clip.std,
      );
      return new TeacherClassMaps(clip, classText, builder);
    } catch (err) {
      await clip.dispose();
      throw err;
    }
  }

  /** Grid positions G_h·G_w. */
  get gridCells(): number {
    return this.builder.count;
  }

  /** The class map of class `cls` for one image, G values (the grid row-major). */
  async map(image: RgbImage, cls: number): Promise<Float32Array> {
    const S = this.clip.inputSize;
    const base = image.width === S && image.height === S ? image : resizeRgb(image, S, S, 'bicubic');
    const G = this.builder.count;
    const E = this.clip.embedDim;
    const I = await this.clip.encodeImages(this.builder.buildAll(base), G);
    return teacherClassMap(I, G, E, this.classText.subarray(cls * E, (cls + 1) * E));
  }

  async dispose(): Promise<void> {
    await this.clip.dispose();
  }
}
