import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { encodePng, startWidgetServers, type WidgetServers } from '../support/widget-servers';
import { acceptTabCapture, browserAvailable, inset, inspectImage, launchChromium, nameHelper, type Region } from '../support/widget-browser';

/**
 * When no in-page engine can capture the page, the form offers the browser's screen capture
 * (the user agrees; Chromium here accepts "this tab" by itself) and then attaching an image file.
 * Both engines are made to fail for real: modern-screenshot serialises its clone with
 * XMLSerializer and html2canvas-pro measures text with Range, and the page takes both away.
 */

const breakBothEngines = `
  window.XMLSerializer = function () { throw new Error('XMLSerializer is switched off by the test'); };
  Document.prototype.createRange = function () { throw new Error('createRange is switched off by the test'); };
  window.widgetErrors = [];
  window.Bugloop = { q: [['init', { projectKey: 'pk_testwidget0123456789', onError: (error) => window.widgetErrors.push(String(error && error.message)) }]] };`;

describe.skipIf(!browserAvailable)('widget capture fallbacks', () => {
  let browser: Browser;
  let servers: WidgetServers;
  let decoder: Page;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    [browser, servers] = await Promise.all([launchChromium([acceptTabCapture]), startWidgetServers()]);
    decoder = await browser.newPage();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await servers?.close();
  });

  async function pageWithBrokenEngines(): Promise<Page> {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper + breakBothEngines });
    await page.goto(servers.pageUrl('plain'));
    await page.locator('[data-bugloop] button.launcher').click();
    await page.locator('[data-bugloop] .shot p').filter({ hasText: 'could not be captured' }).waitFor({ timeout: 30_000 });
    return page;
  }

  async function send(page: Page, description: string) {
    await page.fill('[data-bugloop] #bugloop-description', description);
    // The spam guard refuses sends within 1.5 s of opening.
    await page.waitForTimeout(1600);
    await page.click('[data-bugloop] button[type="submit"]');
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    return servers.ingest.received.find((entry) => entry.report.description === description)!;
  }

  it('offers screen capture and a file once both in-page engines failed, and says so to onError', async () => {
    const page = await pageWithBrokenEngines();
    expect(await page.locator('[data-bugloop] button[data-fallback="screen"]').isVisible()).toBe(true);
    expect(await page.locator('[data-bugloop] input[name="attach-image"]').count()).toBe(1);
    // The second engine was loaded and tried before giving up.
    expect(servers.ingest.requests.some((request) => request.path.startsWith('/html2canvas-pro'))).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { widgetErrors: string[] }).widgetErrors)).toEqual([expect.stringContaining('switched off by the test')]);
  }, 60_000);

  it('screen capture: the frame of the tab arrives at the server, without the widget and with private fields black', async () => {
    const page = await pageWithBrokenEngines();
    const masked: Region[] = await page.evaluate(() =>
      ['#password', '#card', '#masked'].map((selector) => {
        const box = document.querySelector(selector)!.getBoundingClientRect();
        return { x: box.x, y: box.y, width: box.width, height: box.height };
      }),
    );
    // The dialog covers the middle of the page; in the picture that place shows the page.
    const underDialog: Region = await page.evaluate(() => {
      const box = document.querySelector('[data-bugloop]')!.shadowRoot!.querySelector('.panel')!.getBoundingClientRect();
      return { x: box.x + box.width - 120, y: Math.max(box.y + 20, 90), width: 100, height: 60 };
    });
    await page.click('[data-bugloop] button[data-fallback="screen"]');
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => document.querySelector('[data-bugloop]')!.shadowRoot!.activeElement?.tagName)).toBe('CANVAS');

    const { report, image } = await send(page, 'Captured through the screen');
    expect(report.screenshot).toMatchObject({ engine: 'display-media', width: 1280, height: 800 });
    expect(image?.type).toBe('image/webp');
    const header: Region = { x: 700, y: 8, width: 500, height: 30 };
    const picture = await inspectImage(decoder, image!, [header, underDialog, ...masked.map((region) => inset(region, 3))]);
    expect({ width: picture.width, height: picture.height }).toEqual({ width: 1280, height: 800 });
    const [headerStats, underDialogStats, ...maskStats] = picture.regions;
    // The header is #1e3a8a (mean of channels 75); the dialog's backdrop would darken it to about 53.
    expect(headerStats.mean, 'page header, not darkened by the dialog').toBeGreaterThan(65);
    expect(headerStats.mean).toBeLessThan(90);
    // Under the dialog the page background is #fafafa.
    expect(underDialogStats.mean, 'the page where the dialog was').toBeGreaterThan(235);
    maskStats.forEach((stats, index) => expect(stats.max, `masked field ${index}`).toBeLessThanOrEqual(24));
  }, 60_000);

  it('attach an image: the chosen file is what arrives at the server', async () => {
    const page = await pageWithBrokenEngines();
    // Left half black, right half white: the halves prove the server got this very picture.
    const picture = encodePng(640, 400, (x) => (x < 320 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    await page.setInputFiles('[data-bugloop] input[name="attach-image"]', { name: 'what-i-saw.png', mimeType: 'image/png', buffer: picture });
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });

    const { report, image } = await send(page, 'Sent with an attached picture');
    expect(report.screenshot).toMatchObject({ engine: 'file', width: 640, height: 400 });
    const received = await inspectImage(decoder, image!, [
      { x: 10, y: 10, width: 290, height: 380 },
      { x: 340, y: 10, width: 290, height: 380 },
    ]);
    expect({ width: received.width, height: received.height }).toEqual({ width: 640, height: 400 });
    expect(received.regions[0].max).toBeLessThanOrEqual(24);
    expect(received.regions[1].mean).toBeGreaterThan(230);
  }, 60_000);

  it('shows "capturing…" and lets it paint before the capture starts', async () => {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    // Notes when the status appears in the widget's shadow root and when the next frame is drawn.
    await page.addInitScript({
      content: `${nameHelper}
        window.capturingShown = null; window.frameAfterShown = null;
        const attachShadow = Element.prototype.attachShadow;
        Element.prototype.attachShadow = function (init) {
          const root = attachShadow.call(this, init);
          if (this.hasAttribute('data-bugloop')) new MutationObserver(() => {
            if (window.capturingShown === null && [...root.querySelectorAll('[role="status"]')].some((element) => element.textContent.includes('Capturing'))) {
              window.capturingShown = performance.now();
              requestAnimationFrame((time) => { window.frameAfterShown = time; });
            }
          }).observe(root, { childList: true, subtree: true, characterData: true });
          return root;
        };`,
    });
    await page.goto(servers.pageUrl('plain'));
    await page.locator('[data-bugloop] button.launcher').click();
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 30_000 });
    const times = await page.evaluate(() => {
      const measure = performance.getEntriesByName('bugloop:capture')[0];
      const state = window as unknown as { capturingShown: number | null; frameAfterShown: number | null };
      return { shown: state.capturingShown, frame: state.frameAfterShown, captureStarted: measure?.startTime };
    });
    expect(times.shown, 'the capturing status was shown').not.toBeNull();
    expect(times.shown!).toBeLessThan(times.captureStarted!);
    expect(times.frame, 'a frame was drawn with the status before the capture began').not.toBeNull();
    expect(times.frame!).toBeLessThanOrEqual(times.captureStarted!);
  }, 60_000);
});
