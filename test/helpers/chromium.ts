/**
 * Headless Chromium for the explorer's end-to-end tests: Debian's `chromium`, driven by
 * playwright-core, with a fresh profile. A missing browser is a failure with instructions, not a
 * skip (CI installs it).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Where Debian's chromium package puts the browser (override with SALF_CHROMIUM). */
export const CHROMIUM = process.env.SALF_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser with one page; `close` also removes the profile. */
export interface HeadlessBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/**
 * Instead of `--disable-gpu`: WebGPU on Chromium's software Vulkan (SwiftShader), so the page's
 * WebGPU path runs on a machine without a GPU.
 */
const SOFTWARE_WEBGPU = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan', '--use-vulkan=swiftshader'];

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  viewport?: { width: number; height: number };
  /** Give the page a software WebGPU adapter (default: no GPU, so WebAssembly). */
  softwareWebGpu?: boolean;
}

/** Launches headless Chromium with a fresh user-data dir. */
export async function launchChromium(options: LaunchOptions = {}): Promise<HeadlessBrowser> {
  const viewport = options.viewport ?? { width: 1280, height: 900 };
  const args = options.softwareWebGpu ? [...ARGS.filter((a) => a !== '--disable-gpu'), ...SOFTWARE_WEBGPU] : ARGS;
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `headless Chromium is required for the explorer's browser tests and benchmark, but ${CHROMIUM} does not exist; ` +
        'install it with `apt-get update && apt-get install -y chromium` (or point SALF_CHROMIUM at a Chromium binary)',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'salf-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
