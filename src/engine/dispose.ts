/**
 * `Symbol.asyncDispose`, which every model class implements (as its `dispose()`), so that
 * `await using model = …` releases its ONNX Runtime sessions. Node has it from 20.4 (and
 * 18.18); on an older Node 20 it is defined here, once, under the registry key Node uses.
 */
if (typeof Symbol.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose'), writable: false, enumerable: false, configurable: false });
}

/** What every model class offers: `dispose()` releases its sessions; `await using` calls it. */
export interface ModelResource extends AsyncDisposable {
  dispose(): Promise<void>;
}
