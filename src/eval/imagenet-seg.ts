/**
 * Reader of ImageNet-segmentation's `gtsegs_ijcv.mat` (4,276 images with foreground masks; the
 * data set of Chefer et al.'s zero-shot segmentation benchmark), through h5wasm.
 *
 * The file is MATLAB v7.3, i.e. HDF5 behind a 512-byte user block. Layout (SPEC):
 * - `/value/img`: n×1 object references; image i is `f[f['/value/img'][i,0]]`, a uint8 dataset
 *   stored (3, W, H) (MATLAB is column-major), read transposed (2,1,0) to H×W×3;
 * - `/value/gt`: n×1 object references to 1×1 cells of object references; mask i is
 *   `f[f[f['/value/gt'][i,0]][0,0]]`, stored (W, H), read transposed to H×W. Non-zero values are
 *   foreground (the file holds 0/1).
 * Reading is lazy: only the requested image and mask are loaded.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { RgbImage } from '../data/rgb-image.js';

type H5File = InstanceType<typeof h5wasm.File>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

/** A foreground mask: row-major H×W, 1 = foreground, 0 = background. */
export interface BinaryMask {
  data: Uint8Array;
  width: number;
  height: number;
}

/** One example of a segmentation data set at its native size. */
export interface SegExample {
  /** Identifies the example in caches and reports. */
  id: string;
  image: RgbImage;
  mask: BinaryMask;
}

const LAYOUT = "the gtsegs_ijcv.mat layout: /value/img and /value/gt hold n×1 object references (see SPEC, 'Evaluation protocols')";
/** HDF5 datatype classes (H5T_class_t) as h5wasm reports them. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_REFERENCE = 7;

/** An open gtsegs_ijcv.mat file. Call {@link close} when done. */
export class ImageNetSegFile {
  private constructor(
    /** Absolute path of the file. */
    readonly path: string,
    private readonly file: H5File,
    private readonly imgRefs: unknown[],
    private readonly gtRefs: unknown[],
  ) {}

  /** Opens the file and checks its top-level layout (both reference lists, equal lengths). */
  static async open(path: string): Promise<ImageNetSegFile> {
    const abs = resolve(path);
    if (!existsSync(abs) || !statSync(abs).isFile()) throw new Error(`${abs}: no such file (expected ImageNet-segmentation's gtsegs_ijcv.mat)`);
    if (!hasHdf5Signature(abs)) {
      throw new Error(`${abs}: not an HDF5 file (a MATLAB v7.3 .mat is HDF5; older .mat versions must be re-saved with -v7.3)`);
    }
    await h5wasm.ready;
    let file: H5File;
    try {
      file = new h5wasm.File(abs, 'r');
    } catch (err) {
      throw new Error(`${abs}: cannot open as HDF5 / MATLAB v7.3 (${(err as Error).message})`);
    }
    if (!file.file_id || file.file_id < 0n) {
      throw new Error(`${abs}: not an HDF5 file (a MATLAB v7.3 .mat is HDF5; older .mat versions must be re-saved with -v7.3)`);
    }
    try {
      const img = referenceList(file, '/value/img', abs);
      const gt = referenceList(file, '/value/gt', abs);
      if (img.length !== gt.length) throw new Error(`${abs}: /value/img lists ${img.length} images but /value/gt ${gt.length} masks`);
      return new ImageNetSegFile(abs, file, img, gt);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Number of images. */
  get length(): number {
    return this.imgRefs.length;
  }

  /** Image `i` (H×W RGB) and its mask (H×W), as the reference reads them. */
  read(i: number): SegExample {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new Error(`${this.path}: image index ${i} is outside [0, ${this.length})`);
    const where = `${this.path}: image ${i}`;
    const imgSet = this.deref(this.imgRefs[i], `${where}: /value/img[${i},0]`);
    const shape = imgSet.shape ?? [];
    const meta = imgSet.metadata;
    if (shape.length !== 3 || shape[0] !== 3) throw new Error(`${where}: the image dataset ${imgSet.path} has shape [${shape.join(', ')}]; expected [3, W, H]`);
    if (meta.type !== H5T_INTEGER || meta.size !== 1) throw new Error(`${where}: the image dataset ${imgSet.path} is not uint8`);
    const [, W, H] = shape as [number, number, number];
    const raw = imgSet.value as Uint8Array;
    const rgb = new Uint8Array(H * W * 3);
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < W; x++) {
        const src = c * W * H + x * H;
        for (let y = 0; y < H; y++) rgb[(y * W + x) * 3 + c] = raw[src + y]!;
      }
    }

    const cell = this.deref(this.gtRefs[i], `${where}: /value/gt[${i},0]`);
    const cellMeta = cell.metadata;
    if (cellMeta.type !== H5T_REFERENCE) throw new Error(`${where}: ${cell.path} should be a 1×1 cell of object references (${LAYOUT})`);
    const inner = cell.value as unknown[];
    if (!Array.isArray(inner) || inner.length < 1) throw new Error(`${where}: the mask cell ${cell.path} is empty`);
    const gtSet = this.deref(inner[0], `${where}: mask cell ${cell.path}[0,0]`);
    const gShape = gtSet.shape ?? [];
    if (gShape.length !== 2 || gShape[0] !== W || gShape[1] !== H) {
      throw new Error(`${where}: the mask dataset ${gtSet.path} has shape [${gShape.join(', ')}]; expected [${W}, ${H}] to match the image`);
    }
    const gMeta = gtSet.metadata;
    if (gMeta.type !== H5T_INTEGER && gMeta.type !== H5T_FLOAT) throw new Error(`${where}: the mask dataset ${gtSet.path} is not numeric`);
    const gRaw = gtSet.value as ArrayLike<number | bigint>;
    const mask = new Uint8Array(H * W);
    for (let x = 0; x < W; x++) {
      for (let y = 0; y < H; y++) {
        const v = gRaw[x * H + y]!;
        mask[y * W + x] = v !== 0 && v !== 0n ? 1 : 0;
      }
    }
    return { id: `gtsegs-${i}`, image: { data: rgb, width: W, height: H }, mask: { data: mask, width: W, height: H } };
  }

  /** Closes the file. */
  close(): void {
    this.file.close();
  }

  private deref(ref: unknown, where: string): H5Dataset {
    let target: unknown;
    try {
      target = this.file.dereference(ref as Parameters<H5File['dereference']>[0]);
    } catch (err) {
      throw new Error(`${where}: cannot follow the object reference (${(err as Error).message})`);
    }
    if (!(target instanceof h5wasm.Dataset)) throw new Error(`${where}: the reference does not point to a dataset (${LAYOUT})`);
    return target;
  }
}

/** The references of an n×1 reference dataset. */
function referenceList(file: H5File, name: string, path: string): unknown[] {
  let entity: unknown;
  try {
    entity = file.get(name);
  } catch {
    entity = null;
  }
  if (!(entity instanceof h5wasm.Dataset)) throw new Error(`${path}: no dataset ${name} (expected ${LAYOUT})`);
  const shape = entity.shape ?? [];
  if (entity.metadata.type !== H5T_REFERENCE) throw new Error(`${path}: ${name} does not hold object references (expected ${LAYOUT})`);
  if (shape.length !== 2 || shape[1] !== 1) throw new Error(`${path}: ${name} has shape [${shape.join(', ')}]; expected [n, 1]`);
  const refs = entity.value;
  if (!Array.isArray(refs) || refs.length !== shape[0]) throw new Error(`${path}: cannot read the references of ${name}`);
  return refs;
}

/** Whether the HDF5 signature is at offset 0, 512, 1024, … (a user block precedes it in .mat files). */
function hasHdf5Signature(path: string): boolean {
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      if (readSync(fd, buf, 0, 8, at) === 8 && sig.every((b, i) => buf[i] === b)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}
