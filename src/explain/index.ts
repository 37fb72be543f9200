/** Test-time explanations (SPEC steps 5 and 6): the public API of `src/explain/`. */
export { analyseImages, prepareImage, runPrepared, imageOutputs, type PreparedImage, type ImageOutputs } from './analyse.js';
export {
  explainClass, allContributions, rankClasses, softmax, conceptLabel,
  type ClassExplanation, type ConceptContribution, type ClassScore,
} from './contributions.js';
export {
  explainImages, explainOutputs, writeExplanationFiles, conceptMap,
  type ExplainOptions, type ImageExplanation, type ClassExplanationWithMaps, type Heatmap,
} from './explain-image.js';
export { explainRegion, regionScores, type RegionExplanation, type RegionConceptScore } from './explain-region.js';
export { inputGeometry, inputToImage, imageToInput, visibleRect, type InputGeometry } from './geometry.js';
export { upsampleBilinear, colourise, colormapAt, COLORMAP } from './heatmap.js';
export { intervene, applyEdits, classifyConceptMaps, type ConceptEdit, type InterventionResult } from './intervene.js';
export { resolveName } from './names.js';
export { closestNames } from '../closest-names.js';
export {
  parseRegion, rasteriseRegion, loadMaskFile, decodeMaskImage, decodeRle, encodeRle, samMaskFromJson, regionGridWeights, gridMask,
  type Region, type RegionFrame, type RasterRegion, type CocoRle,
} from './regions.js';
export { makeView, overlayHeatmap, renderFigure, renderExplanationFigure, renderRegionFigure, renderInterventionFigure, contributionBarsSvg } from './render.js';
export { decisionRule, NONZERO_THRESHOLD, type DecisionRule, type RuleTerm } from './rules.js';
export { sankeySvg } from './sankey.js';
export { explainVideo, listFrames, extractVideoFrames, type VideoOptions, type VideoResult, type FrameResult } from './video.js';
