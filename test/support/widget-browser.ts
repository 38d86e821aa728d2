import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Chromium for the widget's browser tests: the machine's Debian build, never a downloaded one.
 * Without it the tests skip with a message, unless BUGLOOP_REQUIRE_BROWSER=1 (CI), where a missing
 * browser is a failure.
 */
export const chromiumPath = '/usr/bin/chromium';
export const browserAvailable = existsSync(chromiumPath);
if (!browserAvailable) {
  if (process.env.BUGLOOP_REQUIRE_BROWSER === '1') throw new Error(`${chromiumPath} is missing and BUGLOOP_REQUIRE_BROWSER=1`);
  console.warn(`[browser tests] ${chromiumPath} is missing: widget browser tests are skipped (install Debian's chromium to run them)`);
}

/** tsx/vitest keep function names with an `__name` helper that evaluated functions miss in the page. */
export const nameHelper = 'globalThis.__name = globalThis.__name || ((target) => target);';

/** Launches headless Chromium once per test file; `extraArgs` adds command-line switches. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
}

/**
 * Makes headless Chromium grant `getDisplayMedia({ preferCurrentTab: true })` without a prompt,
 * as a user who picks "this tab" would (the frame is the page as shown, at the viewport's size).
 */
export const acceptTabCapture = '--auto-accept-this-tab-capture';

/** Everything the host page's console and error events said. */
export interface ConsoleWatch {
  errors: string[];
  pageErrors: string[];
}

/** Records console errors and uncaught page errors of `page`. */
export function watchConsole(page: Page): ConsoleWatch {
  const watch: ConsoleWatch = { errors: [], pageErrors: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') watch.errors.push(message.text());
  });
  page.on('pageerror', (error) => watch.pageErrors.push(String(error)));
  return watch;
}

/** A rectangle in image pixels. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Per region: the brightest channel value inside it and the mean of all channels. */
export interface RegionStats {
  max: number;
  mean: number;
}

/**
 * Decodes an image in the browser (`createImageBitmap`; no native decoder in Node) and measures
 * regions of it. `page` should be a blank page of its own, so no page CSP is in the way.
 */
export async function inspectImage(page: Page, image: { type: string; bytes: Buffer }, regions: Region[]): Promise<{ width: number; height: number; regions: RegionStats[] }> {
  return page.evaluate(
    async ({ dataUrl, regions }) => {
      const bitmap = await createImageBitmap(await (await fetch(dataUrl)).blob());
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d')!;
      context.drawImage(bitmap, 0, 0);
      const stats = regions.map((region) => {
        const x = Math.max(0, Math.round(region.x));
        const y = Math.max(0, Math.round(region.y));
        const width = Math.max(1, Math.min(bitmap.width - x, Math.round(region.width)));
        const height = Math.max(1, Math.min(bitmap.height - y, Math.round(region.height)));
        const data = context.getImageData(x, y, width, height).data;
        let max = 0;
        let sum = 0;
        for (let index = 0; index < data.length; index += 4) {
          max = Math.max(max, data[index], data[index + 1], data[index + 2]);
          sum += data[index] + data[index + 1] + data[index + 2];
        }
        return { max, mean: sum / ((data.length / 4) * 3) };
      });
      return { width: bitmap.width, height: bitmap.height, regions: stats };
    },
    { dataUrl: `data:${image.type};base64,${image.bytes.toString('base64')}`, regions },
  );
}

/** Shrinks a region on every side, so edge pixels blended by the encoder do not count. */
export const inset = (region: Region, by: number): Region => ({ x: region.x + by, y: region.y + by, width: region.width - 2 * by, height: region.height - 2 * by });
