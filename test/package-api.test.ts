/** The package's public API: the curated names are exported by the built entry, the internals are not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';

// Imported by the package's own name, so Node resolves it through package.json's `exports`
// to the built entry (dist/src/index.js), as a user's `import … from 'salf-cbm'` does.
const entry: string = 'salf-cbm';

const CURATED = [
  // running models
  'Engine',
  'listTensors',
  'Backbone',
  'ClipModel',
  'SentenceEncoder',
  // the model
  'SalfCbm',
  'loadConceptModel',
  'conceptModelFromSalf',
  'exportSalfCbm',
  'ExportedSalfCbm',
  'trainSalfCbm',
  'TRAINING_DEFAULTS',
  'trainConceptLayer',
  'interpretabilityCutoff',
  'trainFinalLayer',
  // data and stores
  'loadRgb',
  'decodeRgb',
  'scanImageFolder',
  'splitSamples',
  'openDataset',
  'detectLayout',
  'parseDataSpec',
  'DATASET_KINDS',
  'extractFeatures',
  'computeFeatureStore',
  'FeatureStore',
  'computePromptedEmbeddings',
  'RowStore',
  'resolveWorkerShard',
  'precomputeWorker',
  'trainingStores',
  // explanations
  'analyseImages',
  'imageOutputs',
  'explainClass',
  'rankClasses',
  'explainImages',
  'writeExplanationFiles',
  'explainRegion',
  'parseRegion',
  'rasteriseRegion',
  'loadMaskFile',
  'intervene',
  'decisionRule',
  'sankeySvg',
  'renderExplanationFigure',
  'renderRegionFigure',
  'renderInterventionFigure',
  'explainVideo',
  // concepts
  'readConceptList',
  'parseConceptList',
  'ChatClient',
  'generateConcepts',
  'LF_CBM_PROMPTS',
  'filterConcepts',
  'FILTER_DEFAULTS',
  'formatConceptReport',
  // evaluation
  'evaluateClassification',
  'evaluateSegmentation',
];

const INTERNAL = [
  'GraphBuilder',
  'attr',
  'decodeModel',
  'encodeModel',
  'exposeTensors',
  'getDefaultEngine',
  'compareForward',
  'sidecarPath',
  'startExplorerServer',
  'openServedModel',
  'readSafetensors',
  'writeSafetensors',
  'glmSaga',
  'fitStandardiser',
  'applyStandardiser',
  'poolConceptMaps',
  'toChwNormalised',
  'memberPath',
  'parseMemberPath',
  'conceptSimilarities',
  'gridCentres',
  'drawCircle',
  'conceptReportFromCutoff',
  'ImageNetSegFile',
  'trainWithCutoff',
  'upsampleBilinear',
  'softmax',
  'resolveName',
];

test('the built package entry exports exactly the curated names', async () => {
  const api = (await import(entry)) as Record<string, unknown>;
  for (const name of CURATED) assert.notEqual(api[name], undefined, `${name} is exported`);
  for (const name of INTERNAL) assert.ok(!(name in api), `${name} is internal`);
  assert.deepEqual(Object.keys(api).sort(), [...CURATED].sort(), 'nothing else is exported');
});

test('the entry points are callable and the defaults are the documented ones', async () => {
  const api = (await import(entry)) as Record<string, unknown>;
  for (const name of ['trainSalfCbm', 'loadConceptModel', 'explainImages', 'explainRegion', 'intervene', 'evaluateClassification']) {
    assert.equal(typeof api[name], 'function', name);
  }
  assert.equal((api.TRAINING_DEFAULTS as { cutoff: number }).cutoff, 0.45);
});
