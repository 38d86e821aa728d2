/**
 * Pure pieces of the quality metrics: ratios with their numerator and denominator, release
 * ordering, age buckets, density, readiness checks and CSV. No database here, so every rule
 * is unit-tested on its own (test/unit/metrics-math.test.ts). Definitions: docs/metrics.md.
 */

/** A figure that can be audited: value = numerator ÷ denominator, null when nothing to divide by. */
export interface Ratio {
  value: number | null;
  numerator: number;
  denominator: number;
}

/** numerator ÷ denominator, rounded to 4 decimals; null (not 0, not NaN) for an empty denominator. */
export function ratio(numerator: number, denominator: number): Ratio {
  return { value: denominator > 0 ? round(numerator / denominator, 4) : null, numerator, denominator };
}

/** 1 − r (defect detection percentage from leakage), keeping the audit trail: (den − num) ÷ den. */
export function complement(r: Ratio): Ratio {
  return ratio(r.denominator - r.numerator, r.denominator);
}

export function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** Done statuses: a defect in one of them is dealt with; leaving one is a reopen. */
export const doneStatuses = ['resolved', 'verified', 'closed', 'wont_fix'] as const;
/** Statuses that mean "fixed" for MTTR: `wont_fix` closes a defect without repairing it. */
export const repairedStatuses = ['resolved', 'verified', 'closed'] as const;

/** Severity order for "blockers first"; defects without a severity come last. */
export const severityOrder = ['blocker', 'critical', 'major', 'minor', 'trivial'] as const;

/** Sort key for a severity (null last). */
export function severityRank(severity: string | null): number {
  const index = (severityOrder as readonly string[]).indexOf(severity ?? '');
  return index === -1 ? severityOrder.length : index;
}

/** Test-case priorities are free text; the known ones sort in this order, others after, alphabetically. */
export const testPriorityOrder = ['urgent', 'critical', 'high', 'medium', 'low', 'none'] as const;

export function compareTestPriority(a: string | null, b: string | null): number {
  const rank = (value: string | null) => {
    const index = (testPriorityOrder as readonly string[]).indexOf((value ?? '').toLowerCase());
    return index === -1 ? testPriorityOrder.length + (value === null ? 1 : 0) : index;
  };
  return rank(a) - rank(b) || (a ?? '').localeCompare(b ?? '');
}

/** Age buckets of open defects, in days: [min, max). */
export const ageBuckets = [
  { label: 'under 1 day', minDays: 0, maxDays: 1 },
  { label: '1–7 days', minDays: 1, maxDays: 7 },
  { label: '7–30 days', minDays: 7, maxDays: 30 },
  { label: '30–90 days', minDays: 30, maxDays: 90 },
  { label: 'over 90 days', minDays: 90, maxDays: null },
] as const;

/** Bucket thresholds in days (bucket 0 = under 1 day … 4 = 90 days or more). */
export const ageBucketThresholds = ageBuckets.slice(1).map((bucket) => bucket.minDays);

/** Median of numbers (mean of the two middle ones for an even count); null when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** MTTR of one group: median and mean hours, with total hours ÷ count as the mean's audit trail. */
export interface RepairTime {
  medianHours: number | null;
  meanHours: number | null;
  numerator: number;
  denominator: number;
}

export function repairTime(totalHours: number, count: number, medianHours: number | null): RepairTime {
  return {
    medianHours: medianHours === null ? null : round(medianHours, 2),
    meanHours: count > 0 ? round(totalHours / count, 2) : null,
    numerator: round(totalHours, 4),
    denominator: count,
  };
}

/** Density of one component. */
export interface ComponentDensity {
  component: string | null;
  /** Defects of the component ÷ all counted defects. */
  share: Ratio;
  /** Defects ÷ active test cases of the component. */
  perTestCase: Ratio;
  /** Defects ÷ KLOC from project settings `componentSizes`; null where no size is supplied. */
  perKloc: Ratio | null;
}

/**
 * Joins defect counts, test-case counts and supplied sizes per component. Components with test
 * cases but no defects are listed too (density 0): a well-tested component is news as well.
 */
export function componentDensity(
  defects: ReadonlyMap<string | null, number>,
  testCases: ReadonlyMap<string | null, number>,
  sizes: Readonly<Record<string, number>>,
): ComponentDensity[] {
  const total = [...defects.values()].reduce((sum, count) => sum + count, 0);
  const components = new Set<string | null>([...defects.keys(), ...testCases.keys()]);
  return [...components]
    .map((component) => {
      const count = defects.get(component) ?? 0;
      const kloc = component === null ? undefined : sizes[component];
      return {
        component,
        share: ratio(count, total),
        perTestCase: ratio(count, testCases.get(component) ?? 0),
        perKloc: typeof kloc === 'number' && kloc > 0 ? { value: round(count / kloc, 4), numerator: count, denominator: kloc } : null,
      };
    })
    .sort((a, b) => b.share.numerator - a.share.numerator || (a.component ?? '\uffff').localeCompare(b.component ?? '\uffff'));
}

/** Reads `componentSizes: { [component]: kloc }` from project settings, ignoring anything malformed. */
export function componentSizesFromSettings(settings: unknown): Record<string, number> {
  const sizes = (settings as { componentSizes?: unknown } | null)?.componentSizes;
  if (!sizes || typeof sizes !== 'object' || Array.isArray(sizes)) return {};
  return Object.fromEntries(Object.entries(sizes).filter((entry): entry is [string, number] => typeof entry[1] === 'number' && entry[1] > 0));
}

/** One line of the go/no-go evidence. */
export interface ReadinessCheck {
  name: 'no_open_blockers' | 'all_planned_tests_executed' | 'no_failing_tests' | 'previous_escapes_covered';
  passed: boolean;
  detail: string;
}

/** The readiness checks from the figures; the decision stays with people, these are the evidence. */
export function readinessChecks(input: {
  openBlockers: number;
  planned: number;
  executed: number;
  failing: number;
  previousEscaped: number;
  previousEscapedWithTests: number;
}): ReadinessCheck[] {
  return [
    { name: 'no_open_blockers', passed: input.openBlockers === 0, detail: `${input.openBlockers} open blocker defect(s) found in this release` },
    {
      name: 'all_planned_tests_executed',
      passed: input.executed >= input.planned,
      detail: `${input.executed} of ${input.planned} planned test cases executed on this release's builds`,
    },
    { name: 'no_failing_tests', passed: input.failing === 0, detail: `${input.failing} test case(s) whose latest result is failed or error` },
    {
      name: 'previous_escapes_covered',
      passed: input.previousEscapedWithTests === input.previousEscaped,
      detail: `${input.previousEscapedWithTests} of ${input.previousEscaped} escaped defects of the previous release have a linked test`,
    },
  ];
}

/** One CSV field (RFC 4180): quoted when needed; a leading = + - @ is prefixed so spreadsheets do not run it as a formula. */
/** Whether `timeZone` is an IANA time zone name this runtime knows (e.g. Europe/Berlin, UTC). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds the zone's wall clock is ahead of UTC at `instant`. */
function zoneOffsetMs(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(instant));
  const part = (type: string) => Number(parts.find((entry) => entry.type === type)?.value);
  const wallClock = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return wallClock - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a calendar day (YYYY-MM-DD) starts in `timeZone`: 2026-11-16 in Europe/Berlin is
 * 2026-11-15T23:00:00Z. Two passes so a day that starts near a DST change lands right.
 */
export function startOfZonedDay(day: string, timeZone: string): Date {
  const [year, month, date] = day.split('-').map(Number);
  const wallMidnight = Date.UTC(year, month - 1, date);
  const first = wallMidnight - zoneOffsetMs(wallMidnight, timeZone);
  return new Date(wallMidnight - zoneOffsetMs(first, timeZone));
}

/** Whether text is a real calendar date written YYYY-MM-DD (2026-02-30 is not). */
export function isCalendarDay(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const parsed = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === text;
}

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = value instanceof Date ? value.toISOString() : String(value);
  if (/^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows to CSV text with a header line and CRLF line ends. */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}
