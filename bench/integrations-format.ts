/**
 * Prints how long it takes to render one defect into each tracker's format (ADF for Jira,
 * Markdown for Linear, Slack blocks), for a typical and a worst-case (every limit reached)
 * defect, and how big the output is. Run: npm run bench:integrations
 */
import type { TicketContent } from '../server/destinations/destination';
import { ticketFieldLimits } from '../server/destinations/ticket-content';
import { buildSlackMessage, renderAdf, renderMarkdown } from '../server/destinations/ticket-format';

function content(scale: 'typical' | 'worst'): TicketContent {
  const lines = scale === 'typical' ? 2 : 10;
  const long = (length: number) => 'The pay button <does> nothing & `code` **bold** @channel '.repeat(Math.ceil(length / 56)).slice(0, length);
  return {
    defectId: '5f0c7f7e-1111-4222-8333-444455556666',
    projectId: 'p',
    defectKey: 'WEB-42',
    marker: 'bugloop-5f0c7f7e-1111-4222-8333-444455556666',
    title: long(scale === 'typical' ? 60 : 300),
    summary: long(scale === 'typical' ? 200 : 1000),
    status: 'new',
    severity: 'critical',
    priority: 'high',
    component: 'checkout',
    origin: 'field',
    quotes: Array.from({ length: 3 }, () => ({ text: long(scale === 'typical' ? 200 : ticketFieldLimits.quote), receivedAt: new Date(), release: '1.4.2' })),
    steps: long(scale === 'typical' ? 200 : ticketFieldLimits.steps),
    expected: long(scale === 'typical' ? 100 : ticketFieldLimits.expected),
    actual: long(scale === 'typical' ? 100 : ticketFieldLimits.actual),
    environment: [
      { label: 'Browsers', value: 'Chrome 126, Firefox 130' },
      { label: 'Operating systems', value: 'Windows 10, macOS 14' },
      { label: 'Pages', value: 'https://shop.example.com/checkout' },
    ],
    consoleErrors: Array.from({ length: lines }, (_, index) => `TypeError #${index}: ${long(500)}\n  at pay (checkout.js:12:5)`),
    failedRequests: Array.from({ length: lines }, (_, index) => `POST https://shop.example.com/api/orders/${index} → 500 in 84 ms`),
    reportCount: 1234,
    affectedUsers: 987,
    foundIn: '1.4.1',
    fixedIn: null,
    defectUrl: 'https://bugloop.example.com/projects/p/defects/d',
    testCases: Array.from({ length: lines }, (_, index) => ({ key: `TC-${index}`, title: 'Checkout total', url: `https://bugloop.example.com/t/${index}` })),
    hasScreenshot: true,
  };
}

function measure(name: string, run: () => unknown): void {
  for (let index = 0; index < 200; index += 1) run(); // warm up
  const iterations = 2000;
  const started = performance.now();
  let output: unknown;
  for (let index = 0; index < iterations; index += 1) output = run();
  const perCallMs = (performance.now() - started) / iterations;
  const bytes = Buffer.byteLength(typeof output === 'string' ? output : JSON.stringify(output));
  console.log(`${name.padEnd(28)} ${(perCallMs * 1000).toFixed(1).padStart(8)} µs/render   ${(1000 / perCallMs).toFixed(0).padStart(7)} renders/s   ${(bytes / 1024).toFixed(1).padStart(6)} KB`);
}

for (const scale of ['typical', 'worst'] as const) {
  const defect = content(scale);
  measure(`Jira ADF (${scale})`, () => renderAdf(defect));
  measure(`Linear Markdown (${scale})`, () => renderMarkdown(defect));
  measure(`Slack blocks (${scale})`, () => buildSlackMessage(defect, 'defect_created', []));
}
