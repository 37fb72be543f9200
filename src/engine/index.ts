export * from './onnx-builder.js';
export * from './session.js';
