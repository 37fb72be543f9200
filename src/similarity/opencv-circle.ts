/**
 * A pixel-exact re-implementation of OpenCV's non-antialiased circle drawing
 * (`cv2.circle(img, center, r, color, thickness, lineType=cv2.LINE_8)`, integer centre, no
 * sub-pixel shift), producing the set of pixels it paints.
 *
 * What OpenCV does (imgproc/src/drawing.cpp):
 * - thickness 1: a midpoint (Bresenham) circle, `Circle(..., fill=0)`;
 * - thickness < 0 (filled): the same walk filling horizontal spans, `Circle(..., fill=1)`;
 * - thickness > 1: `EllipseEx`. The circle becomes a polygon (`ellipse2Poly`: vertices every
 *   5° for r ≥ 15, 18° for r ≥ 10, 30° for r ≥ 3, else 90°, cos/sin from OpenCV's float table
 *   of whole degrees) in 16.16 fixed point, drawn as an open polyline from 0° to 360°. Every
 *   segment is a `ThickLine`: a filled quadrilateral (`FillConvexPoly`, whose outline is also
 *   traced with the fixed-point `Line2`) of half-width `thickness/2` px, plus a filled disc
 *   (`Circle`, radius `(thickness·2^15 + 2^15) >> 16`) at its end point, and at the start point
 *   of the first segment.
 * Rounding is `cvRound` (ties to even); shifts on negative numbers floor, as in C++.
 *
 * Coordinates are kept well inside ±2^31 / 2^16, so 32-bit `>>` is exact: sizes and centres are
 * limited to |value| ≤ 16384 px.
 */

const XY_SHIFT = 16;
const XY_ONE = 1 << XY_SHIFT;
const HALF = XY_ONE >> 1;
const LIMIT = 16384;

/** OpenCV's `SinTable` (sin of whole degrees 0…450) as float32, computed then rounded like the table. */
const SIN_TABLE = buildSinTable();

function buildSinTable(): Float32Array {
  // drawing.cpp lists sin(k°) to 7 decimals as float literals; the same literals are reproduced
  // here by rounding to 7 decimals, then to float32.
  const t = new Float32Array(451);
  for (let k = 0; k <= 450; k++) {
    const v = Math.sin((k * Math.PI) / 180);
    t[k] = Number(v.toFixed(7));
  }
  return t;
}

/** cvRound: round to nearest, ties to even (SSE2 `cvtsd2si` in the default rounding mode). */
export function cvRound(x: number): number {
  const r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Integer division truncating toward zero, as int64 `/` in C++ (exact below 2^53). */
function idiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

/** The pixels a drawing touches, as a mask over a width×height image. */
export class PixelMask {
  readonly mask: Uint8Array;
  /** Rows that may hold painted pixels: [rowMin, rowMax]. */
  private rowMin = Infinity;
  private rowMax = -Infinity;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.mask = new Uint8Array(width * height);
  }

  /** One pixel, ignored outside the image. */
  put(x: number, y: number): void {
    if (x >= 0 && x < this.width && y >= 0 && y < this.height) {
      this.mask[y * this.width + x] = 1;
      this.touch(y);
    }
  }

  /** Pixels x1..x2 (inclusive) of row y; nothing when x1 > x2. Callers clip. */
  hline(y: number, x1: number, x2: number): void {
    if (x1 > x2) return;
    this.mask.fill(1, y * this.width + x1, y * this.width + x2 + 1);
    this.touch(y);
  }

  /** Row-major pixel indices (y·width + x) of the painted pixels, ascending. */
  indices(): Int32Array {
    if (this.rowMax < this.rowMin) return new Int32Array(0);
    const from = this.rowMin * this.width;
    const to = (this.rowMax + 1) * this.width;
    let n = 0;
    for (let i = from; i < to; i++) n += this.mask[i]!;
    const out = new Int32Array(n);
    for (let i = from, j = 0; i < to; i++) if (this.mask[i]) out[j++] = i;
    return out;
  }

  private touch(y: number): void {
    if (y < this.rowMin) this.rowMin = y;
    if (y > this.rowMax) this.rowMax = y;
  }
}

interface Pt {
  x: number;
  y: number;
}

/** OpenCV `clipLine` on an int64 size (coordinates clipped in place); false when fully outside. */
function clipLine(width: number, height: number, p1: Pt, p2: Pt): boolean {
  const right = width - 1;
  const bottom = height - 1;
  if (width <= 0 || height <= 0) return false;
  let c1 = (p1.x < 0 ? 1 : 0) + (p1.x > right ? 2 : 0) + (p1.y < 0 ? 4 : 0) + (p1.y > bottom ? 8 : 0);
  let c2 = (p2.x < 0 ? 1 : 0) + (p2.x > right ? 2 : 0) + (p2.y < 0 ? 4 : 0) + (p2.y > bottom ? 8 : 0);
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    let a: number;
    if (c1 & 12) {
      a = c1 < 8 ? 0 : bottom;
      p1.x += Math.trunc(((a - p1.y) * (p2.x - p1.x)) / (p2.y - p1.y));
      p1.y = a;
      c1 = (p1.x < 0 ? 1 : 0) + (p1.x > right ? 2 : 0);
    }
    if (c2 & 12) {
      a = c2 < 8 ? 0 : bottom;
      p2.x += Math.trunc(((a - p2.y) * (p2.x - p1.x)) / (p2.y - p1.y));
      p2.y = a;
      c2 = (p2.x < 0 ? 1 : 0) + (p2.x > right ? 2 : 0);
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        a = c1 === 1 ? 0 : right;
        p1.y += Math.trunc(((a - p1.x) * (p2.y - p1.y)) / (p2.x - p1.x));
        p1.x = a;
        c1 = 0;
      }
      if (c2) {
        a = c2 === 1 ? 0 : right;
        p2.y += Math.trunc(((a - p2.x) * (p2.y - p1.y)) / (p2.x - p1.x));
        p2.x = a;
        c2 = 0;
      }
    }
  }
  return (c1 | c2) === 0;
}

/** OpenCV `Line2`: an 8-connected line between 16.16 fixed-point end points. */
function line2(m: PixelMask, a: Pt, b: Pt): void {
  const p1 = { x: a.x, y: a.y };
  const p2 = { x: b.x, y: b.y };
  if (!clipLine(m.width * XY_ONE, m.height * XY_ONE, p1, p2)) return;
  let dx = p2.x - p1.x;
  let dy = p2.y - p1.y;
  const ax = Math.abs(dx);
  const ay = Math.abs(dy);
  let xStep: number;
  let yStep: number;
  let ecount: number;
  if (ax > ay) {
    if (dx < 0) {
      dy = -dy;
      swap(p1, p2);
    }
    xStep = XY_ONE;
    yStep = idiv(dy * XY_ONE, ax | 1);
    ecount = (p2.x - p1.x) >> XY_SHIFT;
  } else {
    if (dy < 0) {
      dx = -dx;
      swap(p1, p2);
    }
    xStep = idiv(dx * XY_ONE, ay | 1);
    yStep = XY_ONE;
    ecount = (p2.y - p1.y) >> XY_SHIFT;
  }
  p1.x += HALF;
  p1.y += HALF;
  m.put((p2.x + HALF) >> XY_SHIFT, (p2.y + HALF) >> XY_SHIFT);
  if (ax > ay) {
    let x = p1.x >> XY_SHIFT;
    let y = p1.y;
    for (; ecount >= 0; ecount--) {
      m.put(x, y >> XY_SHIFT);
      x++;
      y += yStep;
    }
  } else {
    let x = p1.x;
    let y = p1.y >> XY_SHIFT;
    for (; ecount >= 0; ecount--) {
      m.put(x >> XY_SHIFT, y);
      x += xStep;
      y++;
    }
  }
}

function swap(p: Pt, q: Pt): void {
  const x = p.x;
  const y = p.y;
  p.x = q.x;
  p.y = q.y;
  q.x = x;
  q.y = y;
}

/** OpenCV `FillConvexPoly` for 16.16 fixed-point vertices (shift = XY_SHIFT), 8-connected. */
function fillConvexPoly(m: PixelMask, v: Pt[]): void {
  const npts = v.length;
  const delta = HALF;
  let imin = 0;
  let edges = npts;
  let xmin = v[0]!.x;
  let xmax = xmin;
  let ymin = v[0]!.y;
  let ymax = ymin;
  let p0 = v[npts - 1]!;
  for (let i = 0; i < npts; i++) {
    const p = v[i]!;
    if (p.y < ymin) {
      ymin = p.y;
      imin = i;
    }
    ymax = Math.max(ymax, p.y);
    xmax = Math.max(xmax, p.x);
    xmin = Math.min(xmin, p.x);
    line2(m, p0, p);
    p0 = p;
  }
  xmin = (xmin + delta) >> XY_SHIFT;
  xmax = (xmax + delta) >> XY_SHIFT;
  ymin = (ymin + delta) >> XY_SHIFT;
  ymax = (ymax + delta) >> XY_SHIFT;
  if (npts < 3 || xmax < 0 || ymax < 0 || xmin >= m.width || ymin >= m.height) return;
  ymax = Math.min(ymax, m.height - 1);

  const edge = [
    { idx: imin, di: 1, x: -XY_ONE, dx: 0, ye: ymin },
    { idx: imin, di: npts - 1, x: -XY_ONE, dx: 0, ye: ymin },
  ];
  let y = ymin;
  do {
    for (const e of edge) {
      if (y >= e.ye) {
        let idx0 = e.idx;
        let idx = idx0 + e.di;
        if (idx >= npts) idx -= npts;
        while (edges-- > 0) {
          const ty = (v[idx]!.y + delta) >> XY_SHIFT;
          if (ty > y) {
            const xs = v[idx0]!.x;
            const xe = v[idx]!.x;
            e.ye = ty;
            e.dx = idiv((xe - xs) * 2 + (ty - y), 2 * (ty - y));
            e.x = xs;
            e.idx = idx;
            break;
          }
          idx0 = idx;
          idx += e.di;
          if (idx >= npts) idx -= npts;
        }
      }
    }
    if (edges < 0) break;
    if (y >= 0) {
      const [l, r] = edge[0]!.x > edge[1]!.x ? [edge[1]!, edge[0]!] : [edge[0]!, edge[1]!];
      let xx1 = (l.x + HALF) >> XY_SHIFT;
      let xx2 = (r.x + HALF) >> XY_SHIFT;
      if (xx2 >= 0 && xx1 < m.width) {
        if (xx1 < 0) xx1 = 0;
        if (xx2 >= m.width) xx2 = m.width - 1;
        m.hline(y, xx1, xx2);
      }
    }
    edge[0]!.x += edge[0]!.dx;
    edge[1]!.x += edge[1]!.dx;
  } while (++y <= ymax);
}

/** OpenCV `Circle`: midpoint circle of integer radius, outline or filled spans, clipped. */
export function bresenhamCircle(m: PixelMask, cx: number, cy: number, radius: number, fill: boolean): void {
  const { width: w, height: h } = m;
  let err = 0;
  let dx = radius;
  let dy = 0;
  let plus = 1;
  let minus = (radius << 1) - 1;
  const inside = cx >= radius && cx < w - radius && cy >= radius && cy < h - radius;
  const pair = (y: number, xa: number, xb: number): void => {
    // Two points (outline) or the span between them (fill) on row y, each clipped.
    if (y < 0 || y >= h) return;
    if (fill) m.hline(y, Math.max(xa, 0), Math.min(xb, w - 1));
    else {
      if (xa >= 0) m.put(xa, y);
      if (xb < w) m.put(xb, y);
    }
  };
  while (dx >= dy) {
    const y11 = cy - dy;
    const y12 = cy + dy;
    const y21 = cy - dx;
    const y22 = cy + dx;
    const x11 = cx - dx;
    const x12 = cx + dx;
    const x21 = cx - dy;
    const x22 = cx + dy;
    if (inside || (x11 < w && x12 >= 0 && y21 < h && y22 >= 0)) {
      pair(y11, x11, x12);
      pair(y12, x11, x12);
      if (inside || (x21 < w && x22 >= 0)) {
        pair(y21, x21, x22);
        pair(y22, x21, x22);
      }
    }
    dy++;
    err += plus;
    plus += 2;
    const mask = err <= 0 ? 0 : -1;
    err -= minus & mask;
    dx += mask;
    minus -= mask & 2;
  }
}

/** OpenCV `ThickLine` for thickness > 1, 8-connected, 16.16 fixed-point end points. */
function thickLine(m: PixelMask, p0: Pt, p1: Pt, thickness: number, flags: number): void {
  const dx = (p0.x - p1.x) / XY_ONE;
  const dy = (p1.y - p0.y) / XY_ONE;
  let r = dx * dx + dy * dy;
  const odd = thickness & 1;
  const th = thickness * (XY_ONE >> 1);
  if (Math.abs(r) > Number.EPSILON) {
    r = (th + odd * XY_ONE * 0.5) / Math.sqrt(r);
    const dpx = cvRound(dy * r);
    const dpy = cvRound(dx * r);
    fillConvexPoly(m, [
      { x: p0.x + dpx, y: p0.y + dpy },
      { x: p0.x - dpx, y: p0.y - dpy },
      { x: p1.x - dpx, y: p1.y - dpy },
      { x: p1.x + dpx, y: p1.y + dpy },
    ]);
  }
  const capRadius = (th + HALF) >> XY_SHIFT;
  if (flags & 1) bresenhamCircle(m, (p0.x + HALF) >> XY_SHIFT, (p0.y + HALF) >> XY_SHIFT, capRadius, true);
  if (flags & 2) bresenhamCircle(m, (p1.x + HALF) >> XY_SHIFT, (p1.y + HALF) >> XY_SHIFT, capRadius, true);
}

/** `ellipse2Poly` + `EllipseEx` vertex conversion for a full circle, in 16.16 fixed point. */
function circlePolygon(cx: number, cy: number, radius: number): Pt[] {
  const delta = radius < 3 ? 90 : radius < 10 ? 30 : radius < 15 ? 18 : 5;
  const centerX = cx * XY_ONE;
  const centerY = cy * XY_ONE;
  const axis = radius * XY_ONE;
  const out: Pt[] = [];
  let prev: Pt | undefined;
  for (let i = 0; i < 360 + delta; i += delta) {
    const angle = Math.min(i, 360);
    // Rotation 0: alpha = cos 0 = 1, beta = sin 0 = 0, so pt = centre + (x, y) exactly.
    const vx = centerX + axis * SIN_TABLE[450 - angle]!;
    const vy = centerY + axis * SIN_TABLE[angle]!;
    let px = cvRound(vx / XY_ONE) * XY_ONE;
    let py = cvRound(vy / XY_ONE) * XY_ONE;
    px += cvRound(vx - px);
    py += cvRound(vy - py);
    if (!prev || prev.x !== px || prev.y !== py) {
      prev = { x: px, y: py };
      out.push(prev);
    }
  }
  if (out.length === 1)
    return [
      { x: centerX, y: centerY },
      { x: centerX, y: centerY },
    ];
  return out;
}

/**
 * Marks the pixels `cv2.circle(img, (cx, cy), radius, color, thickness, cv2.LINE_8)` paints on a
 * width×height image. `thickness` < 0 fills the disc.
 */
export function rasterCircle(m: PixelMask, cx: number, cy: number, radius: number, thickness: number): void {
  for (const [name, v] of [
    ['cx', cx],
    ['cy', cy],
    ['radius', radius],
    ['thickness', thickness],
  ] as const) {
    if (!Number.isInteger(v)) throw new Error(`circle: ${name} must be an integer, got ${v}`);
  }
  if (radius < 0) throw new Error(`circle: radius must be >= 0, got ${radius}`);
  if (thickness === 0) throw new Error('circle: thickness 0 draws nothing (use >= 1, or < 0 to fill)');
  if (Math.abs(cx) + radius > LIMIT || Math.abs(cy) + radius > LIMIT || m.width > LIMIT || m.height > LIMIT || thickness > 1024) {
    throw new Error(`circle: coordinates beyond ±${LIMIT} px are not supported`);
  }
  if (thickness === 1 || thickness < 0) {
    bresenhamCircle(m, cx, cy, radius, thickness < 0);
    return;
  }
  const v = circlePolygon(cx, cy, radius);
  // PolyLine, open: segment i joins v[i-1] and v[i]; the first also caps its start point.
  let flags = 3;
  for (let i = 1; i < v.length; i++) {
    thickLine(m, v[i - 1]!, v[i]!, thickness, flags);
    flags = 2;
  }
}
