/** The proving ground: a synthetic world of shapes with exact concept masks. */
export * from './vocab.js';
export * from './scene.js';
export * from './classes.js';
export * from './world.js';
export * from './render.js';
export * from './dataset.js';
export { Sfc32Rng, deriveSeed } from './prng.js';
export { decodePng, encodeGrayPng, type DecodedPng } from './png.js';
