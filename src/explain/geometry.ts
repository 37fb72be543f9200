/**
 * Where the model's square input sits in the original image. Preprocessing either stretches
 * the image to S×S or resizes its shorter side and crops the centre (torchvision's arithmetic,
 * `centerGeometry`); this maps points between the two frames, so regions can be given in the
 * image's own pixels and heatmaps drawn back onto the image.
 *
 * Coordinates are continuous pixel coordinates: pixel (i, j) covers [i, i+1) × [j, j+1) and its
 * centre is (i + 0.5, j + 0.5), in both frames.
 */
import { centerGeometry } from '../data/resize.js';
import type { ResizeSpec } from '../data/rgb-image.js';

/** The mapping between an image of `width`×`height` and the model's `size`×`size` input. */
export interface InputGeometry {
  /** Original image size. */
  width: number;
  height: number;
  /** Side S of the model input. */
  size: number;
  /** Size of the resized image before the crop (S×S when stretched). */
  resizedWidth: number;
  resizedHeight: number;
  /** Crop offset in the resized image (0 when stretched). */
  left: number;
  top: number;
}

/** The geometry `spec` gives an image of `width`×`height`. */
export function inputGeometry(width: number, height: number, spec: ResizeSpec): InputGeometry {
  if (spec.mode === 'stretch') return { width, height, size: spec.size, resizedWidth: spec.size, resizedHeight: spec.size, left: 0, top: 0 };
  const g = centerGeometry(width, height, spec);
  return { width, height, size: spec.size, resizedWidth: g.width, resizedHeight: g.height, left: g.left, top: g.top };
}

/** The image point shown at input point (u, v). */
export function inputToImage(g: InputGeometry, u: number, v: number): [number, number] {
  return [((u + g.left) * g.width) / g.resizedWidth, ((v + g.top) * g.height) / g.resizedHeight];
}

/** The input point showing image point (x, y) (may fall outside [0, S)). */
export function imageToInput(g: InputGeometry, x: number, y: number): [number, number] {
  return [(x * g.resizedWidth) / g.width - g.left, (y * g.resizedHeight) / g.height - g.top];
}

/** The rectangle of the image that the model sees, [x0, y0, x1, y1) in image coordinates. */
export function visibleRect(g: InputGeometry): [number, number, number, number] {
  const [x0, y0] = inputToImage(g, 0, 0);
  const [x1, y1] = inputToImage(g, g.size, g.size);
  return [x0, y0, x1, y1];
}
