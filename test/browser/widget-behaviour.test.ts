import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startWidgetServers, testProjectKey, type WidgetServers } from '../support/widget-servers';
import { browserAvailable, inset, inspectImage, launchChromium, nameHelper, watchConsole, type Region } from '../support/widget-browser';

/** The widget's behaviour around the form: offline queue, keyboard, API, cleanup. */

type BugloopWindow = Window & {
  Bugloop?: { open(): void; close(): void; destroy(): void; identify(user: object): void; version?: string; q?: unknown[] };
  widgetErrors?: string[];
};

describe.skipIf(!browserAvailable)('widget behaviour', () => {
  let browser: Browser;
  let servers: WidgetServers;
  let context: BrowserContext;

  beforeAll(async () => {
    [browser, servers] = await Promise.all([launchChromium(), startWidgetServers()]);
  });
  afterAll(async () => {
    await browser?.close();
    await servers?.close();
  });

  /** A fresh browser profile (empty localStorage) and a page of it. */
  async function freshPage(): Promise<Page> {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper });
    return page;
  }

  async function openForm(page: Page) {
    await page.locator('[data-bugloop] button.launcher').click();
    await page.locator('[data-bugloop] #bugloop-description').waitFor();
    return Date.now();
  }

  const shadowActiveId = (page: Page) => page.evaluate(() => document.querySelector('[data-bugloop]')?.shadowRoot?.activeElement?.id ?? document.activeElement?.tagName);

  it('keeps a report sent while the server is down and delivers it exactly once after a reload', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain'));
    const openedAt = await openForm(page);
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    await page.fill('[data-bugloop] #bugloop-description', 'Sent while offline');
    await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
    const before = servers.ingest.received.length;
    await servers.ingest.stop();
    try {
      await page.click('[data-bugloop] button[type="submit"]');
      await page.locator('[data-bugloop] [role="status"]').filter({ hasText: 'offline' }).waitFor({ timeout: 30_000 });
      const queued = await page.evaluate(() => JSON.parse(localStorage.getItem('bugloop:queue') ?? '[]'));
      expect(queued).toHaveLength(1);
      expect(queued[0].image).toMatch(/^data:image\/webp;base64,/);
    } finally {
      await servers.ingest.start();
    }
    expect(servers.ingest.received.length).toBe(before);

    await page.reload();
    await expect.poll(() => servers.ingest.received.filter((entry) => entry.report.description === 'Sent while offline').length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => page.evaluate(() => localStorage.getItem('bugloop:queue'))).toBeNull();
    const delivered = servers.ingest.received.find((entry) => entry.report.description === 'Sent while offline')!;
    expect(delivered.image?.type).toBe('image/webp');

    // A second load finds nothing to send.
    await page.reload();
    await page.locator('[data-bugloop] button.launcher').waitFor();
    await page.waitForTimeout(500);
    expect(servers.ingest.received.filter((entry) => entry.report.description === 'Sent while offline')).toHaveLength(1);
  }, 60_000);

  it('drops a queued report the server refuses for good and tells onError', async () => {
    const page = await freshPage();
    // A report queued earlier with a key the server does not know (a permanent 401).
    await page.addInitScript({
      content: `
        window.widgetErrors = [];
        if (!sessionStorage.getItem('seeded')) {
          sessionStorage.setItem('seeded', '1');
          localStorage.setItem('bugloop:queue', JSON.stringify([{ server: ${JSON.stringify(servers.ingest.url)}, key: 'pk_unknownkey0000000', queuedAt: 1, report: { id: '3f0c5a52-2b8f-4e0a-9d55-1c0b7b5b2f11', description: 'Refused' } }]));
        }
        window.Bugloop = { q: [['init', { projectKey: ${JSON.stringify(testProjectKey)}, onError: (error) => window.widgetErrors.push(error.code + ': ' + error.message) }]] };`,
    });
    await page.goto(servers.pageUrl('plain'));
    await expect.poll(() => page.evaluate(() => (window as BugloopWindow).widgetErrors ?? []), { timeout: 15_000 }).toEqual(['invalid_project_key: Unknown project key']);
    expect(await page.evaluate(() => localStorage.getItem('bugloop:queue'))).toBeNull();
    expect(servers.ingest.requests.filter((request) => request.method === 'POST' && request.status === 401).length).toBeGreaterThanOrEqual(1);
  });

  it('Escape closes the dialog and focus returns to the launcher', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain', { screenshot: 'false' }));
    await openForm(page);
    expect(await shadowActiveId(page)).toBe('bugloop-description');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('[data-bugloop] [role="dialog"]').count()).toBe(0);
    expect(await page.evaluate(() => document.querySelector('[data-bugloop]')?.shadowRoot?.activeElement?.className)).toContain('launcher');
  });

  it('Tab and Shift+Tab keep the focus inside the dialog', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain'));
    await openForm(page);
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    const seen = new Set<string>();
    for (let step = 0; step < 30; step++) {
      await page.keyboard.press('Tab');
      const inside = await page.evaluate(() => {
        const root = document.querySelector('[data-bugloop]')!.shadowRoot!;
        const active = root.activeElement;
        return { inside: document.activeElement === root.host && !!active && !!root.querySelector('[role="dialog"]')?.contains(active), name: active ? `${active.tagName}#${active.id}.${active.textContent?.slice(0, 12)}` : 'none' };
      });
      expect(inside.inside, `after ${step + 1} Tab presses focus is on ${inside.name}`).toBe(true);
      seen.add(inside.name);
    }
    expect(seen.size).toBeGreaterThan(8);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => document.activeElement === document.querySelector('[data-bugloop]'))).toBe(true);
  });

  it('a drawing stroke released over the backdrop keeps the dialog and the stroke', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain'));
    await openForm(page);
    const canvas = page.locator('[data-bugloop] canvas');
    await canvas.waitFor({ timeout: 20_000 });
    await page.click('[data-bugloop] button[data-tool="pen"]');
    const box = (await canvas.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(5, 5, { steps: 6 });
    await page.mouse.up();
    expect(await page.locator('[data-bugloop] [role="dialog"]').count()).toBe(1);
    expect(await page.locator('[data-bugloop] button[data-tool="undo"]').isEnabled()).toBe(true);
    // A plain click on the backdrop still closes.
    await page.mouse.click(5, 5);
    await expect.poll(() => page.locator('[data-bugloop] [role="dialog"]').count()).toBe(0);
  }, 45_000);

  it('refuses to send without a description and says why', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain', { screenshot: 'false' }));
    const before = servers.ingest.received.length;
    await openForm(page);
    await page.click('[data-bugloop] button[type="submit"]');
    await expect.poll(() => page.locator('[data-bugloop] [role="alert"]').textContent()).toContain('Please describe what happened');
    expect(await shadowActiveId(page)).toBe('bugloop-description');
    expect(servers.ingest.received.length).toBe(before);
  });

  it('sends JSON without image or logs when the user unticks them', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain'));
    await page.click('#break');
    const openedAt = await openForm(page);
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    await page.click('[data-bugloop] summary');
    await page.uncheck('[data-bugloop] input[name="include-screenshot"]');
    await page.uncheck('[data-bugloop] input[name="include-logs"]');
    await page.fill('[data-bugloop] #bugloop-description', 'Nothing but text');
    await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
    await page.click('[data-bugloop] button[type="submit"]');
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const entry = servers.ingest.received.find((received) => received.report.description === 'Nothing but text')!;
    expect(entry.headers['content-type']).toBe('application/json');
    expect(entry.image).toBeUndefined();
    expect(entry.report.screenshot).toBeUndefined();
    expect(entry.report.console).toBeUndefined();
    expect(entry.report.network).toBeUndefined();
    expect(entry.report.breadcrumbs).toBeUndefined();
  }, 45_000);

  it('records uncaught errors, unhandled rejections, failed XHR and route changes', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain', { screenshot: 'false' }));
    await page.locator('[data-bugloop] button.launcher').waitFor();
    await page.evaluate(async () => {
      setTimeout(() => {
        throw new TypeError('Cannot read properties of null (token=abc999)');
      });
      void Promise.reject(new Error('Payment promise rejected'));
      history.pushState({}, '', '/checkout/step-2?coupon=SECRET');
      await new Promise<void>((resolve) => {
        const request = new XMLHttpRequest();
        request.open('POST', '/api/broken/xhr?session=abc');
        request.onloadend = () => resolve();
        request.send('{}');
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    const openedAt = await openForm(page);
    await page.fill('[data-bugloop] #bugloop-description', 'Errors of every kind');
    await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
    await page.click('[data-bugloop] button[type="submit"]');
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const { report } = servers.ingest.received.find((entry) => entry.report.description === 'Errors of every kind')!;
    expect(report.console).toContainEqual(expect.objectContaining({ level: 'error', source: 'uncaught', message: 'TypeError: Cannot read properties of null (token=[redacted])' }));
    expect(report.console).toContainEqual(expect.objectContaining({ level: 'error', source: 'unhandledrejection', message: 'Error: Payment promise rejected', stack: expect.stringContaining('Payment promise rejected') }));
    expect(report.network).toContainEqual(expect.objectContaining({ kind: 'xhr', method: 'POST', url: `${servers.pageOrigin}/api/broken/xhr`, status: 500 }));
    expect(report.breadcrumbs).toContainEqual(expect.objectContaining({ kind: 'navigation', from: `${servers.pageOrigin}/plain.html`, to: `${servers.pageOrigin}/checkout/step-2` }));
    expect(report.url).toBe(`${servers.pageOrigin}/checkout/step-2`);
  }, 45_000);

  it('replays calls queued before the script loaded, and data-bugloop-trigger opens the form with the button hidden', async () => {
    const page = await freshPage();
    await page.addInitScript({
      content: `window.Bugloop = { q: [['identify', { email: 'queued@example.com' }]] };
        document.addEventListener('DOMContentLoaded', () => {
          const trigger = document.createElement('a');
          trigger.href = '#'; trigger.id = 'custom-trigger'; trigger.textContent = 'Feedback';
          trigger.setAttribute('data-bugloop-trigger', '');
          document.body.prepend(trigger);
        });`,
    });
    await page.goto(servers.pageUrl('plain', { hideButton: 'true', screenshot: 'false' }));
    await page.waitForFunction(() => (window as BugloopWindow).Bugloop?.version && document.querySelector('[data-bugloop]'));
    expect(await page.locator('[data-bugloop] button.launcher').count()).toBe(0);
    await page.click('#custom-trigger');
    await expect.poll(() => page.locator('[data-bugloop] #bugloop-email').inputValue()).toBe('queued@example.com');
  });

  it('captures the scrolled part of a long page, as Chromium shows it', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('large-dom', { hideButton: 'true' }));
    await page.waitForFunction(() => (window as BugloopWindow).Bugloop?.version && document.querySelector('[data-bugloop]'));
    await page.evaluate(() => scrollTo(0, 3000));
    const reference = await page.screenshot({ type: 'png' });
    await page.evaluate(() => (window as BugloopWindow).Bugloop!.open());
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    const captured = await page.evaluate(async () => {
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      return document.querySelector('[data-bugloop]')!.shadowRoot!.querySelector('canvas')!.toDataURL('image/png');
    });
    const compare = await browser.newPage();
    try {
      const meanDifference = await compare.evaluate(
        async ({ reference, captured }) => {
          const pixels = async (url: string) => {
            const bitmap = await createImageBitmap(await (await fetch(url)).blob());
            const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
            canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
            return canvas.getContext('2d')!.getImageData(0, 0, bitmap.width, bitmap.height).data;
          };
          const [a, b] = await Promise.all([pixels(reference), pixels(captured)]);
          if (a.length !== b.length) return 255;
          let sum = 0;
          for (let index = 0; index < a.length; index++) if (index % 4 !== 3) sum += Math.abs(a[index] - b[index]);
          return sum / ((a.length / 4) * 3);
        },
        { reference: `data:image/png;base64,${reference.toString('base64')}`, captured },
      );
      // The top of the page (header, account box) would differ by far more than this.
      expect(meanDifference).toBeLessThan(2);
    } finally {
      await compare.close();
    }
  }, 45_000);

  it('draws a black-out with the keyboard alone, announces each step, and the sent picture is black there', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain'));
    const launcher = page.locator('[data-bugloop] button.launcher');
    await launcher.focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    const openedAt = Date.now();
    const activeTool = () => page.evaluate(() => document.querySelector('[data-bugloop]')!.shadowRoot!.activeElement?.getAttribute('data-tool') ?? document.querySelector('[data-bugloop]')!.shadowRoot!.activeElement?.tagName);
    const announced = () => page.locator('[data-bugloop] [aria-live="polite"]').textContent();
    // Tab from the description to the black-out tool, choose it, then Tab on to the picture.
    for (let step = 0; step < 15 && (await activeTool()) !== 'blackout'; step++) await page.keyboard.press('Tab');
    expect(await activeTool()).toBe('blackout');
    await page.keyboard.press('Space');
    expect(await page.locator('[data-bugloop] button[data-tool="blackout"]').getAttribute('aria-pressed')).toBe('true');
    for (let step = 0; step < 5 && (await activeTool()) !== 'CANVAS'; step++) await page.keyboard.press('Tab');
    expect(await activeTool()).toBe('CANVAS');
    expect(await page.locator('[data-bugloop] canvas').getAttribute('role')).toBe('application');

    // Escape cancels a started mark and leaves the dialog open.
    await page.keyboard.press('Enter');
    expect(await announced()).toContain('Mark started');
    await page.keyboard.press('Escape');
    expect(await announced()).toBe('Mark cancelled.');
    expect(await page.locator('[data-bugloop] [role="dialog"]').count()).toBe(1);

    // The crosshair starts in the middle (640, 400); Shift+arrow moves 5 % of 1280 px = 64 px.
    for (const key of ['Shift+ArrowLeft', 'Shift+ArrowLeft', 'Shift+ArrowLeft', 'Shift+ArrowUp', 'Shift+ArrowUp']) await page.keyboard.press(key);
    expect(await announced()).toBe('35% across, 34% down');
    await page.keyboard.press('Enter');
    for (const key of ['Shift+ArrowRight', 'Shift+ArrowRight', 'Shift+ArrowRight', 'Shift+ArrowRight', 'Shift+ArrowDown', 'Shift+ArrowDown', 'Shift+ArrowDown', 'ArrowRight']) await page.keyboard.press(key);
    await page.keyboard.press('Enter');
    expect(await announced()).toBe('Mark added.');
    // A second mark, then Ctrl+Z takes it back: one mark is left.
    await page.keyboard.press('Space');
    for (const key of ['Shift+ArrowDown', 'Shift+ArrowDown', 'Shift+ArrowRight']) await page.keyboard.press(key);
    await page.keyboard.press('Space');
    await page.keyboard.press('Control+z');
    expect(await announced()).toBe('Last mark removed.');

    await page.locator('[data-bugloop] #bugloop-description').focus();
    await page.keyboard.type('Drawn with the keyboard');
    await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
    await page.locator('[data-bugloop] button[type="submit"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const { report, image } = servers.ingest.received.find((entry) => entry.report.description === 'Drawn with the keyboard')!;
    expect(report.screenshot?.annotations).toBe(1);
    // From (448, 272) to (704 + 12.8, 464); the page there is white and light gray.
    const blackedOut: Region = { x: 448, y: 272, width: 268, height: 192 };
    const below: Region = { x: 448, y: 600, width: 268, height: 80 };
    const decoder = await browser.newPage();
    try {
      const picture = await inspectImage(decoder, image!, [inset(blackedOut, 4), below]);
      expect(picture.regions[0].max, 'the black-out drawn with the keyboard').toBeLessThanOrEqual(24);
      expect(picture.regions[1].mean, 'the page outside it').toBeGreaterThan(200);
    } finally {
      await decoder.close();
    }
  }, 60_000);

  it('the module build (import from bugloop/widget) sends a report, loading the chunks the loader uses and defining no global', async () => {
    const page = await freshPage();
    const consoleWatch = watchConsole(page);
    const requestsBefore = servers.ingest.requests.length;
    await page.goto(servers.pageUrl('module'));
    await page.waitForFunction(() => (window as unknown as { moduleReady?: boolean }).moduleReady);
    expect(await page.evaluate(() => 'Bugloop' in window)).toBe(false);
    await page.click('#report');
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    const openedAt = Date.now();
    expect(await page.locator('[data-bugloop] #bugloop-email').inputValue()).toBe('module@example.com');
    await page.fill('[data-bugloop] #bugloop-description', 'Sent by the module build');
    await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
    await page.click('[data-bugloop] button[type="submit"]');
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const { report, image } = servers.ingest.received.find((entry) => entry.report.description === 'Sent by the module build')!;
    expect(report).toMatchObject({
      url: `${servers.pageOrigin}/module.html`,
      release: '9.9.9',
      environment: 'module-test',
      user: { id: 'module-user', email: 'module@example.com', name: 'Mo' },
      metadata: { via: 'module' },
      screenshot: { engine: 'modern-screenshot', width: 1280, height: 800 },
    });
    expect(image?.type).toBe('image/webp');
    // The same hashed chunks as the script tag's loader (one copy on the server, one in the cache).
    const fetched = servers.ingest.requests.slice(requestsBefore).map((request) => request.path);
    const loaderCode = await (await fetch(`${servers.ingest.url}/widget.js`)).text();
    expect(fetched).toContain('/widget-module.js');
    expect(fetched).not.toContain('/widget.js');
    const dialogChunk = fetched.find((file) => file.startsWith('/open-dialog-'))!;
    expect(loaderCode).toContain(dialogChunk.slice(1));
    expect(consoleWatch.errors).toEqual([]);
    expect(consoleWatch.pageErrors).toEqual([]);
  }, 60_000);

  it('destroy() removes the element, the global and every patch', async () => {
    const page = await freshPage();
    const consoleWatch = watchConsole(page);
    await page.goto(servers.pageUrl('plain'));
    await openForm(page);
    const patched = await page.evaluate(() => [console.error, window.fetch, XMLHttpRequest.prototype.open, history.pushState].map((fn) => /\[native code\]/.test(Function.prototype.toString.call(fn))));
    expect(patched).toEqual([false, false, false, false]);
    await page.evaluate(() => (window as BugloopWindow).Bugloop!.destroy());
    const after = await page.evaluate(() => ({
      element: document.querySelectorAll('[data-bugloop]').length,
      global: 'Bugloop' in window,
      native: [console.log, console.error, window.fetch, XMLHttpRequest.prototype.open, XMLHttpRequest.prototype.send, history.pushState, history.replaceState].map((fn) =>
        /\[native code\]/.test(Function.prototype.toString.call(fn)),
      ),
    }));
    expect(after).toEqual({ element: 0, global: false, native: [true, true, true, true, true, true, true] });
    expect(consoleWatch.pageErrors).toEqual([]);
  }, 45_000);
});
