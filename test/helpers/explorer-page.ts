/**
 * Reading and driving the explorer page in the end-to-end tests: list rows, image-to-page
 * coordinates, pointer drags, closeness and the non-blank check for screenshots.
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Page } from 'playwright-core';

/** One row of a list on the page. */
export interface Row {
  name: string;
  index: number;
  value: number;
  data: Record<string, string>;
}

/** The rows of a list: name text, data-index/data-concept and data-value (or probability). */
export async function rows(page: Page, selector: string): Promise<Row[]> {
  return page.$$eval(selector, (els) =>
    els.map((e) => {
      const h = e as HTMLElement;
      return {
        name: h.querySelector('.name')?.textContent ?? '',
        index: Number(h.dataset.index ?? h.dataset.concept),
        value: Number(h.dataset.value ?? h.dataset.probability),
        data: { ...h.dataset } as Record<string, string>,
      };
    }),
  );
}

/** Page coordinates of image point (x, y) on the stage; `size` is the image's width and height. */
export async function at(page: Page, x: number, y: number, size: [number, number]): Promise<[number, number]> {
  const box = (await page.locator('#stage canvas.layer-ink').boundingBox())!;
  return [box.x + (x * box.width) / size[0], box.y + (y * box.height) / size[1]];
}

/** Presses at the first image point, moves through the others and releases; waits for the page. */
export async function drag(page: Page, path: [number, number][], size: [number, number]): Promise<void> {
  const [x0, y0] = await at(page, ...path[0]!, size);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  for (const p of path.slice(1)) {
    const [x, y] = await at(page, ...p, size);
    await page.mouse.move(x, y, { steps: 6 });
  }
  await page.mouse.up();
  await page.evaluate(() => window.salfExplorer.idle());
}

/** Largest absolute difference, after checking the lengths match. */
export function maxAbsDiff(actual: readonly number[], expected: readonly number[], what: string): number {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  return Math.max(0, ...actual.map((v, i) => Math.abs(v - expected[i]!)));
}

/** Fails unless every value is within `tol` of the expected one. */
export function assertClose(actual: readonly number[], expected: readonly number[], what: string, tol: number): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= tol, `${what}[${i}]: page ${v}, library ${expected[i]}`));
}

/** Fails unless the PNG has real content: several colours and contrast. Returns what it measured. */
export async function assertNotBlank(png: Buffer, what: string): Promise<{ colours: number; stdev: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const colours = new Set<number>();
  for (let p = 0; p < info.width * info.height; p += 7) colours.add((data[p * 3]! << 16) | (data[p * 3 + 1]! << 8) | data[p * 3 + 2]!);
  const stats = await sharp(png).removeAlpha().stats();
  const spread = Math.max(...stats.channels.map((c) => c.stdev));
  assert.ok(colours.size >= 40 && spread >= 10, `${what} looks blank: ${colours.size} colours, channel stdev ${spread.toFixed(1)}`);
  return { colours: colours.size, stdev: spread };
}
