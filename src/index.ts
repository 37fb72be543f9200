/**
 * salf-cbm: spatially-aware, label-free concept bottleneck models on ONNX Runtime.
 *
 * The public API: what a user needs to train a model, load it, explain an image or a region,
 * intervene on concepts, evaluate, build concept sets and pre-compute the stores. Graph building,
 * file formats, the explorer's server and other internals stay inside the package.
 *
 * @example Train, then explain an image
 * ```ts
 * import { trainSalfCbm, loadConceptModel, explainImages } from 'salf-cbm';
 *
 * await trainSalfCbm({ data: 'cub:/data/CUB_200_2011', backbone, clip: 'clip-vit-b16/', concepts, out: 'model/' });
 * const model = await loadConceptModel('model/');
 * const { results } = await explainImages(model, ['bird.jpg'], { topK: 5 });
 * console.log(results[0]?.prediction, results[0]?.explanations[0]?.contributions);
 * ```
 */

// Running models: the ONNX Runtime engine, backbones, CLIP.
export { Engine, type Device, type EngineOptions } from './engine/session.js';
export { listTensors } from './engine/surgery.js';
export { Backbone, type BackboneConfig } from './models/backbone.js';
export { ClipModel, type ClipLoadOptions } from './models/clip.js';
export { SentenceEncoder } from './models/sentence-encoder.js';
export type { ImageEncoder, TextEncoder } from './models/encoders.js';

// The model: train, save, load, export.
export { SalfCbm, type SalfCbmConfig, type SalfOutputs } from './models/salf-cbm.js';
export type { Pooling } from './models/salf-head.js';
export { loadConceptModel, conceptModelFromSalf, type ConceptModel } from './models/concept-model.js';
export { exportSalfCbm, type ExportInfo } from './models/export.js';
export { ExportedSalfCbm } from './models/exported.js';
export { trainSalfCbm, type TrainSalfCbmOptions, type TrainingMetrics } from './training/train-salf-cbm.js';
export { TRAINING_DEFAULTS } from './training/defaults.js';
export { trainConceptLayer, interpretabilityCutoff } from './training/train-cbl.js';
export { trainFinalLayer } from './training/final-layer.js';
export type { Progress } from './progress.js';

// Data: images, datasets, stores and their pre-computation.
export { loadRgb, decodeRgb } from './data/image-io.js';
export type { RgbImage, ResizeSpec } from './data/rgb-image.js';
export { scanImageFolder, splitSamples, type ImageFolder, type Sample } from './data/image-folder.js';
export { openDataset, detectLayout, parseDataSpec, DATASET_KINDS, type Dataset, type DatasetKind, type DataSpec } from './data/datasets.js';
export { extractFeatures } from './models/extract-features.js';
export { computeFeatureStore, FeatureStore } from './models/feature-store.js';
export { computePromptedEmbeddings } from './similarity/compute.js';
export { RowStore } from './store/row-store.js';
export { resolveWorkerShard, type WorkerShard } from './store/worker-shard.js';
export { precomputeWorker, trainingStores } from './training/precompute.js';

// Explanations (SPEC steps 5 and 6): images, regions, interventions, rules, video, pictures.
export { analyseImages, imageOutputs, type PreparedImage, type ImageOutputs } from './explain/analyse.js';
export { explainClass, rankClasses, type ClassExplanation, type ConceptContribution, type ClassScore } from './explain/contributions.js';
export {
  explainImages,
  writeExplanationFiles,
  type ExplainOptions,
  type ImageExplanation,
  type ClassExplanationWithMaps,
  type Heatmap,
} from './explain/explain-image.js';
export { explainRegion, type RegionExplanation, type RegionConceptScore } from './explain/explain-region.js';
export { parseRegion, rasteriseRegion, loadMaskFile, type Region, type RegionFrame, type RasterRegion } from './explain/regions.js';
export { intervene, type ConceptEdit, type InterventionResult } from './explain/intervene.js';
export { decisionRule, type DecisionRule, type RuleTerm } from './explain/rules.js';
export { sankeySvg } from './explain/sankey.js';
export { renderExplanationFigure, renderRegionFigure, renderInterventionFigure } from './explain/render.js';
export { explainVideo, type VideoOptions, type VideoResult, type FrameResult } from './explain/video.js';

// Concepts (SPEC step 1): lists, generation with a chat model, filtering.
export { readConceptList, parseConceptList } from './concepts/concept-list.js';
export { ChatClient, type ChatClientOptions } from './concepts/chat-client.js';
export { generateConcepts, LF_CBM_PROMPTS, type RawConcepts } from './concepts/generate.js';
export { filterConcepts, FILTER_DEFAULTS, type FilterOptions, type FilterResult } from './concepts/filter.js';
export { formatConceptReport, type ConceptReport } from './concepts/report.js';

// Evaluation.
export { evaluateClassification, type ClassificationEvalOptions, type ClassificationResult } from './eval/classification.js';
export { evaluateSegmentation, type SegmentationEvalOptions, type SegmentationResult } from './eval/segmentation.js';
