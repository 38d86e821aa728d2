import { describe, expect, it } from 'vitest';
import {
  compareTestPriority,
  complement,
  componentDensity,
  componentSizesFromSettings,
  csvField,
  isCalendarDay,
  isTimeZone,
  median,
  ratio,
  readinessChecks,
  repairTime,
  severityRank,
  startOfZonedDay,
  toCsv,
} from '../../server/metrics/metric-math';
import { parseInstant } from '../../server/metrics/metrics-service';

describe('ratio', () => {
  it('keeps numerator and denominator and rounds the value to 4 decimals', () => {
    expect(ratio(2, 3)).toEqual({ value: 0.6667, numerator: 2, denominator: 3 });
  });

  it('gives null, not 0 or NaN, when the denominator is 0', () => {
    expect(ratio(0, 0)).toEqual({ value: null, numerator: 0, denominator: 0 });
  });

  it('derives DDP as the complement of leakage with its own numerator', () => {
    expect(complement(ratio(1, 4))).toEqual({ value: 0.75, numerator: 3, denominator: 4 });
  });
});

describe('median and repair time', () => {
  it('takes the middle value of an odd count and the mean of the two middle ones of an even count', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  it('reports the mean as total hours over count', () => {
    expect(repairTime(72, 3, 20)).toEqual({ medianHours: 20, meanHours: 24, numerator: 72, denominator: 3 });
    expect(repairTime(0, 0, null)).toEqual({ medianHours: null, meanHours: null, numerator: 0, denominator: 0 });
  });
});

describe('severity and priority order', () => {
  it('puts blockers first and defects without severity last', () => {
    expect(['minor', null, 'blocker', 'major'].sort((a, b) => severityRank(a) - severityRank(b))).toEqual(['blocker', 'major', 'minor', null]);
  });

  it('orders known test priorities first, then unknown ones, then none', () => {
    expect([null, 'p3', 'low', 'urgent', 'High'].sort(compareTestPriority)).toEqual(['urgent', 'High', 'low', 'p3', null]);
  });
});

describe('component density', () => {
  it('divides by test cases and by supplied KLOC, and lists components with tests but no defects', () => {
    const density = componentDensity(new Map([['cart', 6], [null, 2]]), new Map([['cart', 3], ['profile', 4]]), { cart: 1.5 });
    expect(density).toEqual([
      { component: 'cart', share: { value: 0.75, numerator: 6, denominator: 8 }, perTestCase: { value: 2, numerator: 6, denominator: 3 }, perKloc: { value: 4, numerator: 6, denominator: 1.5 } },
      { component: null, share: { value: 0.25, numerator: 2, denominator: 8 }, perTestCase: { value: null, numerator: 2, denominator: 0 }, perKloc: null },
      { component: 'profile', share: { value: 0, numerator: 0, denominator: 8 }, perTestCase: { value: 0, numerator: 0, denominator: 4 }, perKloc: null },
    ]);
  });

  it('ignores malformed component sizes in project settings', () => {
    expect(componentSizesFromSettings({ componentSizes: { cart: 2, bad: 'x', zero: 0, negative: -1 } })).toEqual({ cart: 2 });
    expect(componentSizesFromSettings({ componentSizes: [1, 2] })).toEqual({});
    expect(componentSizesFromSettings(null)).toEqual({});
  });
});

describe('days in a time zone', () => {
  it('starts a Berlin day at 23:00 UTC the day before in winter', () => {
    expect(startOfZonedDay('2026-11-16', 'Europe/Berlin').toISOString()).toBe('2026-11-15T23:00:00.000Z');
  });

  it('starts a Berlin day at 22:00 UTC the day before in summer', () => {
    expect(startOfZonedDay('2026-07-01', 'Europe/Berlin').toISOString()).toBe('2026-06-30T22:00:00.000Z');
  });

  it('finds midnight on the day daylight saving time begins', () => {
    expect(startOfZonedDay('2026-03-29', 'Europe/Berlin').toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(startOfZonedDay('2026-03-30', 'Europe/Berlin').toISOString()).toBe('2026-03-29T22:00:00.000Z');
  });

  it('starts a day west of UTC after midnight UTC', () => {
    expect(startOfZonedDay('2026-11-16', 'America/Los_Angeles').toISOString()).toBe('2026-11-16T08:00:00.000Z');
  });

  it('ends a calendar day at its last millisecond in the zone', () => {
    expect(parseInstant('2026-11-22', 'Europe/Berlin', 'end', 'to').toISOString()).toBe('2026-11-22T22:59:59.999Z');
    expect(parseInstant('2026-11-22', 'UTC', 'end', 'to').toISOString()).toBe('2026-11-22T23:59:59.999Z');
  });

  it('rejects dates that do not exist and date-times without a zone', () => {
    expect(isCalendarDay('2026-02-30')).toBe(false);
    expect(isCalendarDay('2026-02-28')).toBe(true);
    expect(() => parseInstant('2026-11-22T10:00:00', 'UTC', 'start', 'from')).toThrow(/date-time with a zone/);
    expect(() => parseInstant('yesterday', 'UTC', 'start', 'from')).toThrow(/from must be/);
  });

  it('knows IANA zone names and rejects others', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});

describe('readiness checks', () => {
  it('passes every check on a clean release', () => {
    const checks = readinessChecks({ openBlockers: 0, planned: 3, executed: 3, failing: 0, previousEscaped: 2, previousEscapedWithTests: 2 });
    expect(checks.every((check) => check.passed)).toBe(true);
  });

  it('fails the blocker check with one open blocker and says how many', () => {
    const [blockers] = readinessChecks({ openBlockers: 1, planned: 0, executed: 0, failing: 0, previousEscaped: 0, previousEscapedWithTests: 0 });
    expect(blockers).toEqual({ name: 'no_open_blockers', passed: false, detail: '1 open blocker defect(s) found in this release' });
  });
});

describe('CSV', () => {
  it('quotes commas, quotes and line breaks', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
  });

  it('defuses cells a spreadsheet would run as a formula, but keeps negative numbers', () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('-0.25')).toBe('-0.25');
  });

  it('writes a header and CRLF-terminated rows, empty cells for null', () => {
    expect(toCsv(['a', 'b'], [[1, null]])).toBe('a,b\r\n1,\r\n');
  });
});
