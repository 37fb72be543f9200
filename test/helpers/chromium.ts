/**
 * Headless Chromium for the explorer's end-to-end tests: Debian's `chromium` (or another found
 * on PATH, or SALF_CHROMIUM), driven by playwright-core, with a fresh profile. Without a browser
 * the tests skip and say why, so that `npm test` passes on a machine with Node alone; with
 * `SALF_CBM_REQUIRE_BROWSER=1` (set by `.ci/run`) they run and fail with install instructions.
 */
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Where Debian's chromium package puts the browser, searched before PATH. */
const SYSTEM_DIRS = ['/usr/bin'];
/** Executable names a Chromium goes by (Debian, Ubuntu, Google's builds), in order of preference. */
const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

/**
 * The Chromium to drive: `SALF_CHROMIUM` when set (even if missing, so that a wrong path is
 * reported, not replaced), else the first of the usual names in `systemDirs` (Debian's
 * `/usr/bin/chromium`) or on PATH; undefined when none is found.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env, systemDirs: readonly string[] = SYSTEM_DIRS): string | undefined {
  if (env.SALF_CHROMIUM) return isExecutable(env.SALF_CHROMIUM) ? env.SALF_CHROMIUM : undefined;
  const dirs = [...systemDirs, ...(env.PATH ?? '').split(delimiter).filter((d) => d !== '')];
  for (const name of CHROMIUM_NAMES) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (isExecutable(path)) return path;
    }
  }
  return undefined;
}

/**
 * The `skip` option for a browser test: a reason (shown by the test runner) when no Chromium is
 * found, or undefined (run it) when one is, or when `SALF_CBM_REQUIRE_BROWSER=1` makes the
 * browser required: then {@link launchChromium} fails the test with install instructions.
 */
export function browserTestSkip(env: NodeJS.ProcessEnv = process.env, systemDirs: readonly string[] = SYSTEM_DIRS): string | undefined {
  if (findChromium(env, systemDirs) !== undefined || env.SALF_CBM_REQUIRE_BROWSER === '1') return undefined;
  return `${notFound(env)}; install it (\`apt-get install -y chromium\`) or set SALF_CHROMIUM to run the explorer's browser tests (SALF_CBM_REQUIRE_BROWSER=1 makes this skip a failure)`;
}

function notFound(env: NodeJS.ProcessEnv): string {
  return env.SALF_CHROMIUM
    ? `SALF_CHROMIUM=${env.SALF_CHROMIUM} is not an executable`
    : `there is no Chromium (${CHROMIUM_NAMES.join(', ')}) in ${SYSTEM_DIRS.join(', ')} or on PATH`;
}

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
const SOFTWARE_WEBGPU = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
];

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
  const executablePath = findChromium();
  if (executablePath === undefined) {
    throw new Error(
      `headless Chromium is required for the explorer's browser tests and benchmark, but ${notFound(process.env)}; ` +
        'install it with `apt-get update && apt-get install -y chromium` (or point SALF_CHROMIUM at a Chromium binary)',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'salf-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args, viewport });
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

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
