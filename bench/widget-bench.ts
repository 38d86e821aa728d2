/**
 * `npm run bench:widget`: per-chunk gzip sizes of the built widget, then, per fixture page and
 * screenshot engine in headless Chromium at 1280×800 over fresh loads (BENCH_RUNS, default 7):
 * capture success, capture time (median, p95), the longest main-thread task during capture, and
 * fidelity against Chromium's own `page.screenshot()` of the same viewport (mean absolute
 * per-channel difference, share of pixels differing by more than 32), leaving out the regions
 * the widget blacks out on purpose and images no in-page engine can read.
 *
 * Wall-clock times depend on what else the machine runs, so it also prints figures that do not:
 * the page's main-thread CPU time from `open()` until the picture is ready (CDP
 * `Performance.getMetrics` ThreadTime; it includes opening the dialog, about 60 ms), the elements
 * cloned (kept whole + emptied shells) and, for modern-screenshot, the computed-style properties
 * read per element.
 *
 * Last, the loader's own cost at page load: over the same fresh loads, the longest time a script
 * of widget.js ran inside a long animation frame (the `long-animation-frame` entries' `scripts`,
 * which name their source; frames under 50 ms are not reported, so "none" means no long task).
 *
 * BENCH_ENGINES=modern-screenshot,html2canvas-pro chooses the engines; BENCH_FIXTURES the pages;
 * BENCH_LOADER_ONLY=1 measures the loader alone.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { chromium, type Browser } from 'playwright-core';
import { printSizes } from './widget-size';
import { fixturePages, startWidgetServers, type FixturePage, type WidgetServers } from '../test/support/widget-servers';

const runs = Number(process.env.BENCH_RUNS ?? 7);
const engines = (process.env.BENCH_ENGINES ?? 'modern-screenshot,html2canvas-pro').split(',') as Array<'modern-screenshot' | 'html2canvas-pro'>;
const fixtures = (process.env.BENCH_FIXTURES ? process.env.BENCH_FIXTURES.split(',') : fixturePages) as FixturePage[];
const viewport = { width: 1280, height: 800 };

interface Sample {
  ok: boolean;
  error?: string;
  durationMs?: number;
  cpuMs?: number;
  elementsCloned?: number;
  properties?: number;
  longestTaskMs?: number;
  meanDifference?: number;
  shareOver32?: number;
  unreadableImages?: number;
}

const percentile = (values: number[], share: number) => {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)];
};

// tsx keeps function names with an `__name` helper that evaluated functions then miss in the page.
export const nameHelper = 'globalThis.__name = globalThis.__name || ((target) => target);';

const longTaskObserver = `
  window.__bugloopLongTasks = [];
  try { new PerformanceObserver((list) => { for (const entry of list.getEntries()) window.__bugloopLongTasks.push([entry.startTime, entry.duration]); }).observe({ type: 'longtask', buffered: true }); } catch {}
`;

async function measureOnce(browser: Browser, servers: WidgetServers, fixture: FixturePage, engine: string, comparePage: import('playwright-core').Page): Promise<Sample> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  try {
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper + longTaskObserver });
    await page.goto(servers.pageUrl(fixture, { hideButton: 'true', screenshotEngine: engine }), { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as { Bugloop?: { version?: string } }).Bugloop?.version && document.querySelector('[data-bugloop]'));
    await page.evaluate(() => document.fonts.ready.then(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 50)))));
    // Regions that differ on purpose: masked fields (black in the capture) and unreadable images.
    const excluded = await page.evaluate(() => {
      const boxes: Array<{ x: number; y: number; width: number; height: number }> = [];
      const add = (element: Element) => {
        const box = element.getBoundingClientRect();
        boxes.push({ x: box.x - 3, y: box.y - 3, width: box.width + 6, height: box.height + 6 });
      };
      document.querySelectorAll('input[type=password],[autocomplete^="cc-"],[data-bugloop-mask],#without-cors').forEach(add);
      document.querySelectorAll('secret-field').forEach((host) => host.shadowRoot?.querySelectorAll('input').forEach(add));
      return boxes;
    });
    const reference = await page.screenshot({ type: 'png' });
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' } as never);
    const threadTime = async () => ((await cdp.send('Performance.getMetrics')).metrics.find((metric) => metric.name === 'ThreadTime')?.value ?? NaN) * 1000;
    const cpuBefore = await threadTime();
    await page.evaluate(() => (window as unknown as { Bugloop: { open(): void } }).Bugloop.open());
    const state = await page.waitForFunction(
      () => {
        const root = document.querySelector('[data-bugloop]')?.shadowRoot;
        if (performance.getEntriesByName('bugloop:capture').length && root?.querySelector('canvas')) return 'captured';
        return root?.querySelector('.shot .muted p') ? 'failed' : null;
      },
      undefined,
      { timeout: 30_000, polling: 50 },
    );
    const cpuMs = (await threadTime()) - cpuBefore;
    if ((await state.jsonValue()) === 'failed') return { ok: false, error: 'capture failed' };
    // The dialog draws the capture into its canvas in an effect: let two frames pass first.
    const value = await page.evaluate(async () => {
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      const measure = performance.getEntriesByName('bugloop:capture').at(-1) as PerformanceMeasure;
      const canvas = document.querySelector('[data-bugloop]')!.shadowRoot!.querySelector('canvas')!;
      const tasks = (window as unknown as { __bugloopLongTasks: Array<[number, number]> }).__bugloopLongTasks;
      const end = measure.startTime + measure.duration;
      const during = tasks.filter(([start, duration]) => start < end && start + duration > measure.startTime).map(([, duration]) => duration);
      return { durationMs: measure.duration, detail: measure.detail as { unreadableImages: number; kept?: number; hollowed?: number; properties?: number }, longestTaskMs: during.length ? Math.max(...during) : 0, image: canvas.toDataURL('image/png') };
    });
    const fidelity = await comparePage.evaluate(
      async ({ referenceBase64, captured, excluded }) => {
        const decode = async (url: string) => {
          const bitmap = await createImageBitmap(await (await fetch(url)).blob());
          const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
          const context = canvas.getContext('2d')!;
          context.drawImage(bitmap, 0, 0);
          return context.getImageData(0, 0, bitmap.width, bitmap.height);
        };
        const a = await decode(`data:image/png;base64,${referenceBase64}`);
        const b = await decode(captured);
        if (a.width !== b.width || a.height !== b.height) return { error: `size ${b.width}x${b.height} vs ${a.width}x${a.height}` };
        let sum = 0;
        let channels = 0;
        let over = 0;
        let pixels = 0;
        for (let y = 0; y < a.height; y++) {
          for (let x = 0; x < a.width; x++) {
            if (excluded.some((box) => x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height)) continue;
            const index = (y * a.width + x) * 4;
            let worst = 0;
            for (let channel = 0; channel < 3; channel++) {
              const difference = Math.abs(a.data[index + channel] - b.data[index + channel]);
              sum += difference;
              worst = Math.max(worst, difference);
            }
            channels += 3;
            pixels++;
            if (worst > 32) over++;
          }
        }
        return { meanDifference: sum / channels, shareOver32: over / pixels };
      },
      { referenceBase64: reference.toString('base64'), captured: value.image, excluded },
    );
    if ('error' in fidelity) return { ok: false, error: fidelity.error };
    const { unreadableImages, kept, hollowed, properties } = value.detail ?? {};
    return { ok: true, durationMs: value.durationMs, cpuMs, longestTaskMs: value.longestTaskMs, unreadableImages, elementsCloned: kept === undefined ? undefined : kept + (hollowed ?? 0), properties, ...fidelity };
  } catch (error) {
    return { ok: false, error: String(error).split('\n')[0] };
  } finally {
    await context.close();
  }
}

/** Long tasks are reported from 50 ms up; below that the capture never blocked the page for long. */
const longest = (samples: Sample[]) => {
  const value = Math.max(0, ...samples.map((sample) => sample.longestTaskMs!));
  return value ? `${value.toFixed(0)} ms` : '<50 ms';
};

const longFrameObserver = `
  window.__bugloopLongFrames = [];
  try { new PerformanceObserver((list) => { for (const entry of list.getEntries()) for (const script of entry.scripts || []) window.__bugloopLongFrames.push([script.sourceURL || script.invoker || '', script.duration]); }).observe({ type: 'long-animation-frame', buffered: true }); } catch {}
`;

/** The longest widget.js script inside a long animation frame during one fresh load (0: none). */
async function loaderAtLoad(browser: Browser, servers: WidgetServers, fixture: FixturePage): Promise<number> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  try {
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper + longFrameObserver });
    await page.goto(servers.pageUrl(fixture), { waitUntil: 'load' });
    await page.locator('[data-bugloop] button.launcher').waitFor();
    await page.waitForTimeout(300);
    const frames = await page.evaluate(() => (window as unknown as { __bugloopLongFrames: Array<[string, number]> }).__bugloopLongFrames);
    return Math.max(0, ...frames.filter(([source]) => source.includes('/widget.js')).map(([, duration]) => duration));
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  const withinBudget = printSizes();
  if (!existsSync('/usr/bin/chromium')) {
    console.log('\n/usr/bin/chromium is missing: capture benchmark skipped');
    return;
  }
  const servers = await startWidgetServers();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const comparePage = await browser.newPage();
  await comparePage.evaluate(nameHelper);
  console.log(`\ncapture in headless Chromium ${browser.version()}, ${viewport.width}x${viewport.height}, ${runs} fresh loads per fixture and engine; ${os.cpus().length} CPUs, load average ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}`);
  console.log(
    `${'fixture'.padEnd(20)} ${'engine'.padEnd(18)} ${'ok'.padStart(5)} ${'median'.padStart(8)} ${'p95'.padStart(8)} ${'longest task'.padStart(13)} ${'CPU median'.padStart(11)} ${'cloned'.padStart(7)} ${'props'.padStart(6)} ${'mean diff'.padStart(10)} ${'px >32'.padStart(8)} ${'unreadable'.padStart(10)}`,
  );
  try {
    if (process.env.BENCH_LOADER_ONLY) engines.length = 0;
    for (const engine of engines) {
      for (const fixture of fixtures) {
        const samples: Sample[] = [];
        for (let run = 0; run < runs; run++) samples.push(await measureOnce(browser, servers, fixture, engine, comparePage));
        const good = samples.filter((sample) => sample.ok);
        const durations = good.map((sample) => sample.durationMs!);
        const mean = (values: number[]) => values.reduce((total, value) => total + value, 0) / Math.max(1, values.length);
        console.log(
          `${fixture.padEnd(20)} ${engine.padEnd(18)} ${`${good.length}/${samples.length}`.padStart(5)} ${`${percentile(durations, 0.5).toFixed(0)} ms`.padStart(8)} ${`${percentile(durations, 0.95).toFixed(0)} ms`.padStart(8)} ${longest(good).padStart(13)} ${`${percentile(good.map((sample) => sample.cpuMs!), 0.5).toFixed(0)} ms`.padStart(11)} ${String(good[0]?.elementsCloned ?? '-').padStart(7)} ${String((engine === 'modern-screenshot' && good[0]?.properties) || '-').padStart(6)} ${mean(good.map((sample) => sample.meanDifference!)).toFixed(2).padStart(10)} ${`${(mean(good.map((sample) => sample.shareOver32!)) * 100).toFixed(2)}%`.padStart(8)} ${String(good[0]?.unreadableImages ?? '-').padStart(10)}`,
        );
        for (const failure of samples.filter((sample) => !sample.ok).slice(0, 2)) console.log(`    failed: ${failure.error}`);
      }
    }
    console.log(`\nloader at page load: longest widget.js script inside a long animation frame (≥ 50 ms frames), ${runs} fresh loads each`);
    for (const fixture of fixtures) {
      const durations: number[] = [];
      for (let run = 0; run < runs; run++) durations.push(await loaderAtLoad(browser, servers, fixture));
      const worst = Math.max(...durations);
      console.log(`${fixture.padEnd(20)} ${worst ? `${worst.toFixed(0)} ms (in ${durations.filter(Boolean).length}/${runs} loads)` : 'none'}`);
    }
    console.log(`load average at the end: ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}`);
  } finally {
    await browser.close();
    await servers.close();
  }
  if (!withinBudget) process.exitCode = 1;
}

await main();
