import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsResponse, ReadinessResponse } from '../../shared/quality-api';
import { createProject } from '../../server/projects/project-service';
import { createUser, setProjectRole } from '../../server/users/user-service';
import { startTestApp, type TestApp } from '../support/test-server';
import { artifactsDirectory, browserAvailability, launchChromium, saveScreenshot, testPassword } from './dashboard-browser';
import { type QualityFixture, apiFromPage, chartSeries, clickChart, inboxKeys, seedQualityProject, signInAs, tableRows, textFromPage } from './quality-fixtures';

const availability = browserAvailability();

describe.skipIf(!availability.run)('dashboard: metrics and release readiness in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let fixture: QualityFixture;
  let metrics: MetricsResponse;

  beforeAll(async () => {
    app = await startTestApp();
    fixture = await seedQualityProject(app, 'MET');
    browser = await launchChromium();
    // The page asks for days and weeks in the browser's zone; fix it so the API call below matches.
    context = await browser.newContext({ viewport: { width: 1360, height: 900 }, timezoneId: 'UTC', acceptDownloads: true });
    page = await context.newPage();
    await signInAs(page, app, fixture.emails.admin);
    metrics = await apiFromPage<MetricsResponse>(page, `/projects/${fixture.projectId}/metrics?tz=UTC`);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const metricsUrl = (query = '') => `${app.url}/p/${fixture.projectId}/metrics${query}`;
  const openMetrics = async (query = '') => {
    await page.goto(metricsUrl(query));
    await page.waitForSelector('#chart-leakage [data-series="Escaped"]', { state: 'attached' });
  };

  it('loads the charting library as its own chunk, only on a chart page', async () => {
    const scripts: string[] = [];
    page.on('request', (request) => request.resourceType() === 'script' && scripts.push(new URL(request.url()).pathname));
    await page.goto(`${app.url}/p/${fixture.projectId}`);
    await inboxKeys(page);
    expect(scripts.some((script) => script.includes('chartist'))).toBe(false);
    await page.click('.nav a:text("Metrics")');
    await page.waitForSelector('#chart-leakage [data-series="Escaped"]', { state: 'attached' });
    expect(scripts.filter((script) => script.includes('chartist-loader'))).toHaveLength(1);
    page.removeAllListeners('request');
  });

  it('draws leakage by release with the API’s escaped and caught counts, and the table agrees', async () => {
    await openMetrics();
    const expected = metrics.metrics.leakageByRelease;
    expect(expected.map((entry) => entry.version)).toEqual(['1.9.0', '1.10.0', '1.11.0']);
    expect(await chartSeries(page, 'chart-leakage', 'Escaped')).toEqual(expected.map((entry) => ({ label: entry.version, value: String(entry.numerator) })));
    expect(await chartSeries(page, 'chart-leakage', 'Caught by QA/CI')).toEqual(expected.map((entry) => ({ label: entry.version, value: String(entry.denominator - entry.numerator) })));
    const rows = await tableRows(page, '#chart-leakage .data-table');
    expect(rows.map((row) => row.slice(0, 3))).toEqual(expected.map((entry) => [entry.version, String(entry.numerator), String(entry.denominator)]));
    // Hand-computed in test/support/metrics-history.ts: 1.10.0 has D3, D5, D9 escaped and D8 from QA.
    expect(rows[1]).toEqual(['1.10.0', '3', '4', '75%', '25%']);
    const figure = page.locator('#figure-leakage');
    expect(await figure.locator('.numerator').textContent()).toBe(String(metrics.metrics.defectLeakage.numerator));
    expect(await figure.locator('.denominator').textContent()).toBe(String(metrics.metrics.defectLeakage.denominator));
    await saveScreenshot(page, 'dashboard-metrics');
  });

  it('opens the escaped defects of a release from its bar: the inbox filter lists exactly them', async () => {
    await openMetrics();
    const release = metrics.metrics.leakageByRelease.find((entry) => entry.version === '1.10.0')!;
    await clickChart(page, `#chart-leakage [data-series="Escaped"][data-label="1.10.0"]`);
    await page.waitForURL((url) => url.pathname === `/p/${fixture.projectId}` && url.searchParams.get('release') === release.releaseId);
    const url = new URL(page.url());
    expect(Object.fromEntries(url.searchParams)).toEqual({ release: release.releaseId, origin: 'field', status: 'all' });
    const keys = await inboxKeys(page);
    expect(keys).toHaveLength(release.numerator);
    const { d3, d5, d9 } = fixture.history.defects;
    expect(keys.sort()).toEqual([d3.key, d5.key, d9.key].sort());
  });

  it('draws the component map from the API and links coverage gaps to gap defects', async () => {
    await openMetrics();
    const expected = metrics.metrics.escapedByComponent;
    expect(expected.length).toBeGreaterThan(0);
    expect(await chartSeries(page, 'chart-components', 'Escaped')).toEqual(expected.map((entry) => ({ label: entry.component ?? '(no component)', value: String(entry.escaped) })));
    expect(await chartSeries(page, 'chart-components', 'Coverage gaps')).toEqual(expected.map((entry) => ({ label: entry.component ?? '(no component)', value: String(entry.withoutCoverage.numerator) })));
    const checkout = expected.find((entry) => entry.component === 'checkout')!;
    await page.click('#chart-components tbody tr:has-text("checkout") td:nth-child(3) a');
    await page.waitForURL((url) => url.searchParams.get('coverageGap') === 'true');
    expect(new URL(page.url()).searchParams.get('component')).toBe('checkout');
    expect(await inboxKeys(page)).toEqual([fixture.history.defects.d3.key]);
    expect(checkout.withoutCoverage.numerator).toBe(1);
  });

  it('draws MTTR by severity (median and mean) and links a severity to its repaired defects', async () => {
    await openMetrics();
    const expected = metrics.metrics.mttr.bySeverity;
    expect(expected.length).toBeGreaterThan(0);
    const label = (severity: string | null) => severity ?? 'not set';
    expect(await chartSeries(page, 'chart-mttr', 'Median hours')).toEqual(expected.map((entry) => ({ label: label(entry.severity), value: String(entry.medianHours) })));
    expect(await chartSeries(page, 'chart-mttr', 'Mean hours')).toEqual(expected.map((entry) => ({ label: label(entry.severity), value: String(entry.meanHours) })));
    const critical = expected.find((entry) => entry.severity === 'critical')!;
    // D2: created 11-02 12:00, closed for good 11-04 12:00 after a reopen: 48 h.
    expect(critical).toMatchObject({ medianHours: 48, meanHours: 48, denominator: 1 });
    await page.click('#chart-mttr tbody tr:has-text("critical") td:nth-child(2) a');
    await page.waitForURL((url) => url.searchParams.get('severity') === 'critical');
    expect(new URL(page.url()).searchParams.get('status')).toBe('resolved,verified,closed');
    expect(await inboxKeys(page)).toEqual([fixture.history.defects.d2.key]);
  });

  it('draws the open-defect age histogram and links a bucket to exactly its open defects', async () => {
    await openMetrics();
    const buckets = metrics.metrics.defectAge.buckets;
    expect(await chartSeries(page, 'chart-age', 'Open defects')).toEqual(buckets.map((bucket) => ({ label: bucket.label, value: String(bucket.count) })));
    for (const bucket of buckets.filter((entry) => entry.count > 0)) {
      await openMetrics();
      await clickChart(page, `#chart-age [data-series="Open defects"][data-label="${bucket.label}"]`);
      await page.waitForURL((url) => url.searchParams.has('age'));
      expect((await inboxKeys(page)).length, bucket.label).toBe(bucket.count);
    }
  });

  it('draws created vs resolved per week and links a week’s created point to the defects created then', async () => {
    await openMetrics();
    const weeks = metrics.metrics.throughput.weeks;
    expect(await chartSeries(page, 'chart-throughput', 'Created')).toEqual(weeks.map((week) => ({ label: week.week, value: String(week.created) })));
    expect(await chartSeries(page, 'chart-throughput', 'Resolved')).toEqual(weeks.map((week) => ({ label: week.week, value: String(week.resolved) })));
    const busy = weeks.find((week) => week.created > 0)!;
    await clickChart(page, `#chart-throughput [data-series="Created"][data-label="${busy.week}"]`);
    await page.waitForURL((url) => url.searchParams.has('createdFrom'));
    expect(new URL(page.url()).searchParams.get('createdFrom')).toBe(busy.start);
    expect((await inboxKeys(page)).length).toBe(busy.created);
  });

  it('shows reopen rate, duplicate rate, density and ineffective tests with numerator and denominator', async () => {
    await openMetrics();
    const figure = async (id: string) => [await page.locator(`#${id} .numerator`).textContent(), await page.locator(`#${id} .denominator`).textContent()];
    const m = metrics.metrics;
    expect(await figure('figure-reopen')).toEqual([String(m.reopenRate.numerator), String(m.reopenRate.denominator)]);
    expect(await figure('figure-duplicates')).toEqual([String(m.duplicateRate.numerator), String(m.duplicateRate.denominator)]);
    expect(await figure('figure-ineffective')).toEqual([String(m.ineffectiveTests.numerator), String(m.ineffectiveTests.denominator)]);
    expect(await page.locator('#figure-ineffective a:text("CART-1")').count()).toBe(1);
    const density = await tableRows(page, '#table-density .data-table');
    expect(density.map((row) => [row[0], row[1]])).toEqual(m.density.map((entry) => [entry.component ?? '(no component)', String(entry.share.numerator)]));
    await page.click('#figure-reopen a:text("Show the defects")');
    await page.waitForURL((url) => url.searchParams.get('reopened') === 'true');
    const reopened = await inboxKeys(page);
    // D2 and D3 were reopened (D3 twice); the rate counts those whose first resolution is in the window.
    expect(reopened.sort()).toEqual([fixture.history.defects.d2.key, fixture.history.defects.d3.key].sort());
  });

  it('keeps release, component and dates in the URL and shows the API’s figures for them', async () => {
    await openMetrics();
    await page.selectOption('select[aria-label=Release]', { label: '1.10.0' });
    await page.waitForURL((url) => url.searchParams.get('release') === fixture.history.releases.r2);
    await page.selectOption('select[aria-label=Component]', 'checkout');
    await page.waitForURL((url) => url.searchParams.get('component') === 'checkout');
    await page.fill('input[name=from]', '2026-11-01');
    await page.waitForURL((url) => url.searchParams.get('from') === '2026-11-01');
    const filtered = await apiFromPage<MetricsResponse>(page, `/projects/${fixture.projectId}/metrics?release=${fixture.history.releases.r2}&component=checkout&from=2026-11-01&tz=UTC`);
    // Polled: the figures of the previous filters stay on screen until the new answer arrives.
    const leakageOnScreen = async () => [await page.locator('#figure-leakage .numerator').textContent(), await page.locator('#figure-leakage .denominator').textContent()];
    await expect.poll(leakageOnScreen, { timeout: 10_000 }).toEqual([String(filtered.metrics.defectLeakage.numerator), String(filtered.metrics.defectLeakage.denominator)]);
    // A reload keeps every filter.
    await page.reload();
    await page.waitForSelector('#figure-leakage');
    expect(await page.locator('select[aria-label=Component]').inputValue()).toBe('checkout');
    expect(await page.locator('input[name=from]').inputValue()).toBe('2026-11-01');
    // The figure's link carries the page's filters into the inbox.
    await page.click('#figure-leakage a');
    await page.waitForURL((url) => url.searchParams.get('origin') === 'field');
    expect(new URL(page.url()).searchParams.get('component')).toBe('checkout');
    expect((await inboxKeys(page)).length).toBe(filtered.metrics.defectLeakage.numerator);
  });

  it('answers a malformed filter with the API’s message and a retry, not a blank page', async () => {
    await page.goto(metricsUrl('?from=2026-11-20&to=2026-11-01'));
    await page.waitForSelector('.state-error');
    expect(await page.locator('.state-error').textContent()).toContain('from must be before to');
    expect(await page.locator('.state-error button:text("Try again")').count()).toBe(1);
  });

  it('lists releases with their leakage and opens a release’s readiness page', async () => {
    await page.goto(`${app.url}/p/${fixture.projectId}/releases`);
    await page.waitForSelector('.release-row');
    const rows = await tableRows(page, '.releases-table');
    expect(rows.map((row) => row[0])).toEqual(['1.11.0', '1.10.0', '1.9.0']);
    expect(rows[1].slice(2, 5)).toEqual(['4', '3', '75%']);
    await saveScreenshot(page, 'dashboard-releases');
    await page.click('.release-row a:text("1.10.0")');
    await page.waitForSelector('h1:text("Release 1.10.0: readiness")');
  });

  describe('release readiness', () => {
    let readiness: ReadinessResponse;
    const readinessApi = () => `/projects/${fixture.projectId}/releases/${fixture.history.releases.r2}/readiness`;

    beforeAll(async () => {
      readiness = await apiFromPage<ReadinessResponse>(page, readinessApi());
    });

    const openReadiness = async () => {
      await page.goto(`${app.url}/p/${fixture.projectId}/releases/${fixture.history.releases.r2}`);
      await page.waitForSelector('#chart-leakage-trend [data-series="Leakage"]', { state: 'attached' });
    };

    it('shows planned, executed, pass rate, failing tests, open defects, previous escapes and the leakage trend as the API does', async () => {
      await openReadiness();
      const trail = async (id: string) => [await page.locator(`#${id} .numerator`).textContent(), await page.locator(`#${id} .denominator`).textContent()];
      expect(await page.locator('#figure-planned .figure-value').textContent()).toBe(String(readiness.tests.planned));
      expect(await trail('figure-executed')).toEqual([String(readiness.tests.executed.numerator), String(readiness.tests.executed.denominator)]);
      expect(await trail('figure-pass-rate')).toEqual([String(readiness.tests.passRate.numerator), String(readiness.tests.passRate.denominator)]);
      expect((await tableRows(page, '.failing-tests')).map((row) => row[0].split(' ')[0])).toEqual(readiness.tests.failing.map((test) => test.key));
      expect(readiness.tests.failing.map((test) => test.key)).toEqual(['CART-2']);
      expect(await chartSeries(page, 'chart-failing-priority', 'Failing tests')).toEqual(readiness.tests.failingByPriority.map((row) => ({ label: row.priority ?? 'no priority', value: String(row.count) })));
      // Blockers first.
      expect(await chartSeries(page, 'chart-open-severity', 'Open defects')).toEqual(readiness.openDefects.bySeverity.map((row) => ({ label: row.severity ?? 'not set', value: String(row.count) })));
      expect(readiness.openDefects.bySeverity[0].severity).toBe('blocker');
      const escapes = await tableRows(page, '#table-previous-escapes .data-table');
      expect(escapes.map((row) => row[0].split(' ')[0])).toEqual(readiness.previousReleaseEscapes.defects.map((defect) => defect.key));
      expect(escapes.map((row) => row[2] === 'no test')).toEqual(readiness.previousReleaseEscapes.defects.map((defect) => !defect.hasTest));
      expect(await chartSeries(page, 'chart-leakage-trend', 'Leakage')).toEqual(readiness.leakageTrend.map((point) => ({ label: point.version, value: point.value === null ? '' : String(point.value) })));
      const checks = await page.$$eval('.checks li', (items) => items.map((item) => [item.getAttribute('data-check'), item.classList.contains('check-pass')]));
      expect(checks).toEqual(readiness.checks.map((check) => [check.name, check.passed]));
      await saveScreenshot(page, 'dashboard-release-readiness');
    });

    it('links open defects of a severity to the inbox filtered by release and severity', async () => {
      await openReadiness();
      const blockers = readiness.openDefects.bySeverity.find((row) => row.severity === 'blocker')!;
      await clickChart(page, '#chart-open-severity [data-label="blocker"]');
      await page.waitForURL((url) => url.searchParams.get('severity') === 'blocker');
      expect(new URL(page.url()).searchParams.get('release')).toBe(fixture.history.releases.r2);
      expect((await inboxKeys(page)).length).toBe(blockers.count);
    });

    it('downloads the CSV and JSON exports exactly as the API serves them', async () => {
      await openReadiness();
      const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.click('a:text("Export CSV")')]);
      expect(csvDownload.suggestedFilename()).toBe('readiness-1.10.0.csv');
      const csv = readFileSync((await csvDownload.path())!, 'utf8');
      expect(csv).toBe(await textFromPage(page, `${readinessApi()}?format=csv`));
      expect(csv.split('\r\n')[0]).toBe('section,item,value,numerator,denominator,detail');
      const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.click('a:text("Export JSON")')]);
      expect(jsonDownload.suggestedFilename()).toBe('readiness-1.10.0.json');
      const json = JSON.parse(readFileSync((await jsonDownload.path())!, 'utf8')) as ReadinessResponse;
      expect({ ...json, asOf: undefined }).toEqual({ ...readiness, asOf: undefined });
    });

    it('prints as a clean one-page document: no app chrome or buttons, the evidence kept', async () => {
      await openReadiness();
      await page.emulateMedia({ media: 'print' });
      const hidden = await page.evaluate(() =>
        ['.topbar', '.export-buttons', '.crumbs'].map((selector) => {
          const element = document.querySelector(selector);
          return element ? getComputedStyle(element).display : 'missing';
        }),
      );
      expect(hidden).toEqual(['none', 'none', 'none']);
      expect(await page.locator('h1').isVisible()).toBe(true);
      expect(await page.locator('#chart-open-severity svg').isVisible()).toBe(true);
      await saveScreenshot(page, 'dashboard-release-readiness-print');
      mkdirSync(artifactsDirectory, { recursive: true });
      const pdf = await page.pdf({ format: 'A4', printBackground: true, path: path.join(artifactsDirectory, 'dashboard-release-readiness.pdf') });
      await page.emulateMedia({ media: 'screen' });
      const pages = pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? [];
      expect(pages.length).toBe(1);
    });
  });

  describe('a project without data', () => {
    let emptyPage: Page;
    beforeAll(async () => {
      const project = await createProject(app.database.db, { name: 'Empty shop', keyPrefix: 'EMP' });
      const user = await createUser(app.database.db, { email: 'empty-admin@example.com', password: testPassword });
      await setProjectRole(app.database.db, project.id, user.id, 'admin');
      emptyPage = await context.browser()!.newPage({ viewport: { width: 1360, height: 900 } });
      await signInAs(emptyPage, app, 'empty-admin@example.com');
    });

    it('tells what to do next on the metrics and releases pages', async () => {
      const projectId = new URL(emptyPage.url()).pathname.split('/')[2];
      await emptyPage.goto(`${app.url}/p/${projectId}/metrics`);
      await emptyPage.waitForSelector('.state-empty');
      expect(await emptyPage.locator('.state-empty strong').textContent()).toBe('No defects to measure yet');
      await emptyPage.goto(`${app.url}/p/${projectId}/releases`);
      await emptyPage.waitForSelector('.state-empty');
      expect(await emptyPage.locator('.state-empty strong').textContent()).toBe('No releases yet');
    });
  });
});
