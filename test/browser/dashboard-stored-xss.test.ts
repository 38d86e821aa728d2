import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../server/auth/api-token-service';
import { upsertRequirements } from '../../server/test-management/traceability';
import { signedInHeaders } from '../support/auth';
import { addDestination, testSecretKey } from '../support/integrations';
import { startTestApp, type TestApp } from '../support/test-server';
import { browserAvailability, launchChromium, projectWithUser, saveScreenshot, signIn } from './dashboard-browser';

const availability = browserAvailability();
const origin = 'https://shop.example.com';

/**
 * Every way a stored string could become script in the dashboard: markup with an event handler,
 * a script element, an attribute break-out, a markdown link. Each calls `__xss` with its field
 * and vector, so a failure names what ran. `xss-<field>` marks where the field is shown.
 */
const payload = (field: string) =>
  `xss-${field} <img src=x onerror=__xss('${field}:img')><script>__xss('${field}:script')</script>"><svg onload=__xss('${field}:svg')> [open](javascript:__xss('${field}:md'))`;
/** For fields of at most 100–200 characters (user fields, metadata keys): one handler, with its marker. */
const medium = (field: string) => `xss-${field} <img src=x onerror=__xss('${field}:img')>`;
/** For fields with short limits (environment 50, component 100): one handler. */
const short = (field: string) => `"><svg onload=__xss('${field}')>`;
/** For fields rendered as links: a script address. */
const scriptUrl = (field: string) => `javascript:__xss('${field}:href')`;
/** What a field shows when it is rendered as text: its marker and the handler's own letters. */
const shownAsText = (field: string) => [`xss-${field}`, `onerror=__xss('${field}:img')`];
const shortShownAsText = (field: string) => [`onload=__xss('${field}')`];

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Stored XSS (issue "hardening"): payloads in every field a reporter, a CI job, a tester or a team
 * member can type, sent through the real endpoints, then every dashboard page that shows them,
 * in Chromium with the Content-Security-Policy bypassed: the dashboard's rendering alone must
 * keep them inert (CSP is a second wall, not the first). `__xss` records synchronously in the
 * page and reports to the test; each page is also searched for elements or attributes the
 * payloads would have created, for script links, and for the payload text itself (a field that
 * is not rendered at all cannot prove anything).
 *
 * Sent but shown nowhere, so only checked to be inert: the raw user agent (its client hints are
 * shown), language, time zone, referrer, console entries below `warn`, JUnit suite names,
 * system-out and failure bodies (the class, name and message are shown), saved view queries.
 */
describe.skipIf(!availability.run)('dashboard: stored XSS payloads stay text', () => {
  let app: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let projectId: string;
  let base: string;
  const ran: string[] = [];
  const popups: string[] = [];
  const pageErrors: string[] = [];
  const ids = { publicDefect: '', apiDefect: '', ciDefect: '', testCase: '', run: '', release: '' };

  beforeAll(async () => {
    app = await startTestApp({ SECRET_KEY: testSecretKey, RATE_LIMIT_PER_IP_PER_MINUTE: '100000' });
    const setup = await projectWithUser(app, 'admin', 'XSS');
    projectId = setup.project.id;
    base = `/api/v1/projects/${projectId}`;
    const { headers: admin } = await signedInHeaders(app.database.db, { projectId, role: 'admin' });
    const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = admin, type = 'application/json') => {
      const response = await app.request(path, { method, headers: { ...headers, 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
      return response.status === 204 ? undefined : response.json();
    };

    // A component rule first, so the reports' pages are routed to a component with a payload name.
    await call('POST', `${base}/component-rules`, { pattern: '/checkout/**', component: short('rule-component') });

    // 1. The widget's public endpoint: key + allowed origin, every field of the report.
    const report = (tag: string, extra: Record<string, unknown> = {}) => ({
      id: crypto.randomUUID(),
      title: payload(`${tag}-title`),
      description: payload(`${tag}-description`),
      expected: payload(`${tag}-expected`),
      email: `o'neil+xss-${tag}@example.com`,
      url: `https://shop.example.com/checkout/pay?q=<svg onload=__xss('${tag}-url')>`,
      pageTitle: payload(`${tag}-page-title`),
      referrer: payload(`${tag}-referrer`),
      release: `2.0.0-${tag}<svg/onload=__xss('${tag}-release')>`,
      environment: short(`${tag}-env`),
      user: { id: medium(`${tag}-user-id`), email: `xss-${tag}-user@example.com`, name: medium(`${tag}-user-name`) },
      browser: {
        userAgent: payload(`${tag}-user-agent`),
        clientHints: { brands: [{ brand: short(`${tag}-brand`), version: '120' }], platform: short(`${tag}-os`), platformVersion: '14', model: short(`${tag}-model`).slice(0, 100) },
        language: short(`${tag}-lang`).slice(0, 50),
        timeZone: short(`${tag}-tz`),
      },
      metadata: { [medium(`${tag}-meta-key`)]: payload(`${tag}-meta-value`), plan: 'pro' },
      console: [
        { level: 'error', message: payload(`${tag}-console`), stack: payload(`${tag}-stack`), time: Date.now() - 5000, source: 'uncaught' },
        { level: 'log', message: payload(`${tag}-console-log`), time: Date.now() - 6000 },
      ],
      network: [{ kind: 'fetch', method: 'POST', url: `https://api.shop.example.com/pay/<img src=x onerror=__xss('${tag}-network')>`, status: 500, durationMs: 120, time: Date.now() - 4000, error: payload(`${tag}-network-error`) }],
      breadcrumbs: [
        { kind: 'navigation', time: Date.now() - 9000, from: 'https://shop.example.com/', to: `https://shop.example.com/checkout/<svg onload=__xss('${tag}-crumb-to')>` },
        { kind: 'click', time: Date.now() - 8000, selector: `button#pay"><svg onload=__xss('${tag}-crumb-selector')>`, text: `xss-${tag}-crumb-text <img src=x onerror=__xss('${tag}-crumb-text:img')>` },
        { kind: 'custom', time: Date.now() - 7000, message: payload(`${tag}-crumb-message`) },
      ],
      ...extra,
    });
    const publicResponse = await app.request('/api/v1/reports', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bugloop-key': setup.project.publicKey, origin },
      // No steps: the defect page shows steps drafted from the breadcrumbs.
      body: JSON.stringify(report('public')),
    });
    expect(publicResponse.status, await publicResponse.clone().text()).toBe(202);

    // 2. The authenticated report API (support tools, QA), with steps typed.
    const reportToken = await createApiToken(app.database.db, { projectId, name: 'qa bot', scopes: ['reports:write'] });
    const apiResponse = await app.request('/api/v1/reports', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reportToken.token}` },
      body: JSON.stringify(
        report('api', {
          origin: 'qa',
          steps: payload('api-steps'),
          description: `${payload('api-description')} A completely different problem about invoices and refunds`,
          url: scriptUrl('api-report-url'),
        }),
      ),
    });
    expect(apiResponse.status, await apiResponse.clone().text()).toBe(202);
    await app.jobs.drain();

    const defects = await app.database.db.selectFrom('defects').select(['id', 'key', 'title', 'origin']).where('projectId', '=', projectId).execute();
    ids.publicDefect = defects.find((defect) => defect.origin === 'field')!.key;
    ids.apiDefect = defects.find((defect) => defect.origin === 'qa')!.key;

    // 3. A JUnit run: suite, class and test names, failure message and body, outputs, run fields.
    const junit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="${xml(payload('junit-suite'))}" tests="2" failures="1">
    <testcase classname="${xml(payload('junit-class'))}" name="${xml(payload('junit-name'))}" time="0.5">
      <failure message="${xml(payload('junit-message'))}" type="${xml(short('junit-type'))}">${xml(payload('junit-failure-body'))}</failure>
      <system-out>${xml(payload('junit-out'))}</system-out>
    </testcase>
    <testcase classname="checkout.spec" name="${xml(payload('junit-passing'))} [REQ:${xml(short('junit-req'))}]" time="0.1"/>
  </testsuite>
</testsuites>`;
    const runQuery = new URLSearchParams({ release: `3.0.0<svg/onload=__xss('run-release')>`, build: short('run-build'), commit: 'a1b2c3d4', environment: short('run-env') });
    const run = await call('POST', `${base}/test-runs?${runQuery}`, junit, admin, 'application/xml');
    ids.run = run.runId;
    await app.jobs.drain();
    ids.ciDefect = (await app.database.db.selectFrom('defects').select('key').where('projectId', '=', projectId).where('origin', '=', 'ci').executeTakeFirstOrThrow()).key;

    // 4. A test case typed by a tester: every field, requirements as keys and as links.
    const testCase = await call('POST', `${base}/test-cases`, {
      title: payload('case-title'),
      suite: payload('case-suite'),
      component: short('case-component'),
      tags: [short('case-tag')],
      priority: short('case-priority'),
      steps: [{ action: payload('case-step-action'), expected: payload('case-step-expected') }],
      expectedResult: payload('case-expected'),
      requirements: [short('case-req'), scriptUrl('case-req-url'), `https://tracker.example.com/"><svg onload=__xss('case-req-https')>`],
    });
    ids.testCase = testCase.id;

    // 5. Registered requirements. A script address is refused now; one stored before that rule
    // (written straight through the service) must still not become a link.
    const refused = await app.request(`${base}/requirements`, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ requirements: [{ key: 'SHOP-1', url: scriptUrl('requirement-url') }] }) });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('http(s)') });
    await upsertRequirements(app.database.db, projectId, [{ key: short('req-key'), title: payload('req-title'), url: scriptUrl('requirement-url') }]);
    await call('PUT', `${base}/requirements`, { requirements: [{ key: short('case-req'), title: payload('case-req-title'), url: 'https://tracker.example.com/SHOP-1' }] });

    // 6. Triage: a comment, a component typed on the defect, a linked test case.
    const publicDefect = await call('GET', `${base}/defects/${ids.publicDefect}`, undefined, admin);
    await call('POST', `${base}/defects/${ids.publicDefect}/comments`, { body: `${payload('comment')} see [details](javascript:__xss('comment:md2')) and <a href="javascript:__xss('comment:a')">here</a>` });
    await call('PATCH', `${base}/defects/${ids.apiDefect}`, { component: short('typed-component') });
    await call('POST', `${base}/defects/${publicDefect.defect?.id ?? publicDefect.id}/test-links`, { testCaseId: ids.testCase, kind: 'covers' });

    // 7. Settings a team member types: project name, saved view, API token, member, destination.
    await call('PATCH', base, { name: payload('project-name') });
    await call('POST', `${base}/views`, { name: short('view-name'), query: { q: short('view-query') } });
    await call('POST', `${base}/api-tokens`, { name: short('token-name'), scopes: ['defects:read'] });
    await call('POST', `${base}/members`, { email: `xss-member@example.com`, name: payload('member-name'), role: 'viewer', password: 'a long member password' });
    await addDestination(app.database.db, projectId, { kind: 'webhook', name: short('destination-name'), config: { url: 'https://hooks.example.com/bugloop' }, secrets: {} });

    const releases = await call('GET', `${base}/releases`, undefined, admin);
    ids.release = releases.releases.find((release: { version: string }) => release.version.startsWith('3.0.0')).id;

    browser = await launchChromium();
    // bypassCSP: with the policy on, an inline handler would be blocked even if a page rendered
    // the payload as HTML, and this test could not fail.
    context = await browser.newContext({ bypassCSP: true, viewport: { width: 1360, height: 900 } });
    await context.exposeFunction('__xssReport', (name: string) => ran.push(name));
    await context.addInitScript(() => {
      const flags: string[] = [];
      Object.assign(window, { __xssRan: flags, __xss: (name: string) => { flags.push(name); (window as unknown as { __xssReport(name: string): void }).__xssReport(name); } });
    });
    context.on('page', (popup) => popups.push(popup.url()));
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, app, setup.email);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /**
   * Opens a dashboard page, waits for it to settle, opens every <details>, and checks: no payload
   * ran (in the page's own record), nothing they would create exists, no link is a script, and
   * every `expected` text is visible. Returns the page's visible text.
   */
  async function visit(path: string, ready: string, expected: string[]): Promise<string> {
    await page.goto(`${app.url}${path}`);
    await page.waitForSelector(ready);
    await page.waitForFunction(() => !document.querySelector('.state-loading'));
    await page.waitForLoadState('networkidle');
    await page.evaluate(() => document.querySelectorAll('details').forEach((details) => (details.open = true)));
    const found = await page.evaluate(() => ({
      ran: (window as unknown as { __xssRan: string[] }).__xssRan,
      injected: [...document.querySelectorAll('img[src="x"], svg[onload], script:not([src]), [onerror], [onload]')].map((element) => element.outerHTML.slice(0, 120)),
      scriptLinks: [...document.querySelectorAll<HTMLAnchorElement | HTMLAreaElement>('a[href], area[href]')].filter((link) => link.protocol === 'javascript:').map((link) => link.outerHTML.slice(0, 160)),
      // Visible text, and what form fields show (the triage panel's component is an input).
      text: [document.body.innerText, ...[...document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')].map((field) => field.value)].join('\n'),
    }));
    expect(found.ran, `scripts ran on ${path}`).toEqual([]);
    expect(found.injected, `elements injected on ${path}`).toEqual([]);
    expect(found.scriptLinks, `javascript: links on ${path}`).toEqual([]);
    for (const text of expected) expect(found.text, `${path} shows ${text}`).toContain(text);
    return found.text;
  }

  it('shows the inbox with titles, components and saved views as text', async () => {
    await visit(`/p/${projectId}?status=all`, '.inbox-row', [
      ...shownAsText('public-title'),
      ...shownAsText('api-title'),
      ...shortShownAsText('typed-component'),
      ...shortShownAsText('view-name'),
      ...shownAsText('project-name'),
    ]);
    await visit(`/p/${projectId}?status=all&q=${encodeURIComponent("__xss('public-title")}`, '.inbox-row', shownAsText('public-title'));
  });

  it('shows a widget report on its defect page: words, reporter, page, console, network, breadcrumbs, metadata, comments, tests', async () => {
    const text = await visit(`/p/${projectId}/defects/${ids.publicDefect}`, '.report', [
      ...shownAsText('public-title'),
      ...shownAsText('public-description'),
      ...shownAsText('public-expected'),
      "o'neil+xss-public@example.com",
      // Addresses are scrubbed (and so percent-encoded) at ingest.
      "__xss(%27public-url%27)",
      ...shownAsText('public-page-title'),
      "2.0.0-public<svg/onload=__xss('public-release')>",
      ...shortShownAsText('public-env'),
      // Browser and OS from client hints, in the report line and the breakdown.
      ...shortShownAsText('public-brand'),
      ...shortShownAsText('public-os'),
      ...shownAsText('public-user-id'),
      ...shownAsText('public-user-name'),
      'xss-public-user@example.com',
      // Keys as sent: `__xss` is not camel-cased on the way out.
      ...shownAsText('public-meta-key'),
      ...shownAsText('public-meta-value'),
      ...shownAsText('public-console'),
      ...shownAsText('public-stack'),
      "'public-network')%3E",
      ...shownAsText('public-network-error'),
      "onload=__xss('public-crumb-to')",
      "onload=__xss('public-crumb-selector')",
      "onerror=__xss('public-crumb-text:img')",
      ...shownAsText('public-crumb-message'),
      ...shortShownAsText('rule-component'),
      ...shownAsText('comment'),
      "javascript:__xss('comment:md2')",
      ...shownAsText('case-title'),
      // Names typed elsewhere, in the triage panel's lists.
      ...shownAsText('member-name'),
      ...shortShownAsText('destination-name'),
    ]);
    // The steps were drafted from the breadcrumbs (no steps were typed).
    expect(text).toContain('drafted from the clicks');
    await saveScreenshot(page, 'dashboard-stored-xss-defect');
  });

  it('shows a report from the API with typed steps and a script address as its page', async () => {
    await visit(`/p/${projectId}/defects/${ids.apiDefect}`, '.report', [
      ...shownAsText('api-steps'),
      ...shownAsText('api-description'),
      ...shortShownAsText('typed-component'),
      "javascript:__xss('api-report-url:href')",
    ]);
  });

  it('never opens a reporter-written script address: "open" buttons leave nothing to run', async () => {
    for (const key of [ids.publicDefect, ids.apiDefect]) {
      await visit(`/p/${projectId}/defects/${key}`, '.report', []);
      // Only web addresses get an "open" button (Chromium runs a javascript: URL opened with
      // noopener in a blank window of its own, but other browsers need not).
      const offered = await page.$$eval('.external-link .external-link-text', (nodes) => nodes.map((node) => node.textContent ?? ''));
      expect(offered.length).toBeGreaterThan(0);
      expect(offered.filter((url) => !/^https?:\/\//i.test(url))).toEqual([]);
      const buttons = page.locator('.external-link button');
      for (let index = 0; index < (await buttons.count()); index++) await buttons.nth(index).click();
      await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 300)));
    }
    expect(popups.filter((url) => url.startsWith('javascript:'))).toEqual([]);
    expect(popups.length).toBeGreaterThan(0);
    expect(ran).toEqual([]);
  });

  it('shows a CI defect and its run with JUnit names and failure messages as text', async () => {
    await visit(`/p/${projectId}/defects/${ids.ciDefect}`, '.defect-page, h1', shownAsText('junit-name'));
    await visit(`/p/${projectId}/test-runs`, 'table', [...shortShownAsText('run-build'), "3.0.0<svg/onload=__xss('run-release')>"]);
    await visit(`/p/${projectId}/test-runs/${ids.run}`, 'h1', [...shownAsText('junit-name'), ...shownAsText('junit-message'), ...shortShownAsText('run-env'), ...shownAsText('junit-class')]);
  });

  it('shows test cases, one case and traceability with every typed field as text, and no script link', async () => {
    await visit(`/p/${projectId}/test-cases`, 'table', [...shownAsText('case-title'), ...shownAsText('junit-name'), ...shortShownAsText('case-component')]);
    await visit(`/p/${projectId}/test-cases/${ids.testCase}`, 'h1', [
      ...shownAsText('case-title'),
      ...shownAsText('case-suite'),
      ...shortShownAsText('case-component'),
      ...shortShownAsText('case-tag'),
      ...shortShownAsText('case-priority'),
      ...shownAsText('case-step-action'),
      ...shownAsText('case-step-expected'),
      ...shownAsText('case-expected'),
      ...shortShownAsText('case-req'),
      "javascript:__xss('case-req-url:href')",
      "onload=__xss('case-req-https')",
      ...shownAsText('public-title'),
    ]);
    await visit(`/p/${projectId}/traceability?release=${encodeURIComponent("3.0.0<svg/onload=__xss('run-release')>")}`, 'table', [
      ...shortShownAsText('req-key'),
      ...shownAsText('req-title'),
      ...shortShownAsText('case-req'),
      ...shownAsText('case-req-title'),
      ...shortShownAsText('junit-req'),
      ...shownAsText('case-title'),
    ]);
    await saveScreenshot(page, 'dashboard-stored-xss-traceability');
  });

  it('shows releases, readiness and metrics (charts and drill-downs) with versions and components as text', async () => {
    await visit(`/p/${projectId}/releases`, 'table', ["2.0.0-public<svg/onload=__xss('public-release')>", "3.0.0<svg/onload=__xss('run-release')>"]);
    await visit(`/p/${projectId}/releases/${ids.release}`, 'h1', ["3.0.0<svg/onload=__xss('run-release')>", ...shownAsText('junit-name')]);
    await visit(`/p/${projectId}/metrics`, '.chart svg', ["2.0.0-public<svg/onload=__xss('public-release')>", ...shortShownAsText('rule-component')]);
    // A chart's drill-down into the inbox, filtered by a component with a payload name.
    await visit(`/p/${projectId}?status=all&component=${encodeURIComponent(short('typed-component'))}`, '.inbox-row', [...shownAsText('api-title'), ...shortShownAsText('typed-component')]);
  });

  it('shows settings (general with component rules, people and tokens, integrations) with typed names as text', async () => {
    await visit(`/p/${projectId}/settings`, '.tabs a.active', [...shownAsText('project-name'), ...shortShownAsText('rule-component')]);
    await visit(`/p/${projectId}/settings?tab=people`, '#members td', ['xss-member@example.com', ...shortShownAsText('token-name')]);
    await visit(`/p/${projectId}/settings?tab=integrations`, '.destination', shortShownAsText('destination-name'));
  });

  it('ran no payload anywhere and threw no errors', () => {
    expect(ran).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
