import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { commandNodeFlags, relaunchArguments } from '../../scripts/cli-node-flags.mjs';

describe('Node flags per CLI command (bin/bugloop.js relaunches with them)', () => {
  const script = '/repo/bin/bugloop.js';

  it('relaunches import-junit with a small young generation, keeping every argument in order', () => {
    expect(commandNodeFlags['import-junit']).toEqual(['--heap-growing-percent=50', '--max-semi-space-size=2']);
    expect(relaunchArguments([script, 'import-junit', 'a b.xml', '--release', '1.4.0'], ['--enable-source-maps'])).toEqual([
      '--enable-source-maps', '--heap-growing-percent=50', '--max-semi-space-size=2', script, 'import-junit', 'a b.xml', '--release', '1.4.0',
    ]);
  });

  it('does not relaunch a process that already has the flags, nor commands that want none', () => {
    expect(relaunchArguments([script, 'import-junit', 'x.xml'], ['--heap-growing-percent=50', '--max-semi-space-size=2'])).toBeNull();
    // The user's own value for a flag wins (V8 would take the last one given); the others are added.
    expect(relaunchArguments([script, 'import-junit', 'x.xml'], ['--heap-growing-percent=30', '--max-semi-space-size=8'])).toBeNull();
    expect(relaunchArguments([script, 'import-junit', 'x.xml'], ['--max_semi_space_size=8'])).toEqual(['--max_semi_space_size=8', '--heap-growing-percent=50', script, 'import-junit', 'x.xml']);
    expect(relaunchArguments([script, 'serve'], [])).toBeNull();
    expect(relaunchArguments([script], [])).toBeNull();
    // A flag of the same name in an argument (not in execArgv) is not Node's: still relaunched.
    expect(relaunchArguments([script, 'import-junit', '--max-semi-space-size=2'], [])).not.toBeNull();
  });
});
