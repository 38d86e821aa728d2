import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { isFresh } from '../../scripts/source-freshness.mjs';

describe('build freshness (which CLI bin/bugloop.js runs)', () => {
  it('is fresh only while the stamp is newer than every source, nested files included', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'bugloop-freshness-'));
    mkdirSync(path.join(root, 'server', 'deep'), { recursive: true });
    const source = path.join(root, 'server', 'deep', 'code.ts');
    const stamp = path.join(root, 'stamp');
    writeFileSync(source, 'a');
    const seconds = (offset: number) => Date.now() / 1000 + offset;
    utimesSync(source, seconds(-100), seconds(-100));
    utimesSync(path.join(root, 'server', 'deep'), seconds(-100), seconds(-100));
    utimesSync(path.join(root, 'server'), seconds(-100), seconds(-100));
    expect(isFresh(root, stamp, ['server'])).toBe(false); // never built
    writeFileSync(stamp, 'built');
    utimesSync(stamp, seconds(-50), seconds(-50));
    expect(isFresh(root, stamp, ['server', 'missing-folder'])).toBe(true);
    utimesSync(source, seconds(-10), seconds(-10)); // edited after the build
    expect(isFresh(root, stamp, ['server'])).toBe(false);
  });
});
