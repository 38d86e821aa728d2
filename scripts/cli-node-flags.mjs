// Node (V8) flags a CLI command's process runs with, beyond Node's defaults. bin/bugloop.js
// relaunches itself with them, and `npm run bench:junit` starts its import process with the same
// ones, so that the benchmark measures what the CLI runs.

/**
 * `import-junit` runs in a short-lived process on a CI runner, where memory is what is short.
 *
 * `--heap-growing-percent=50`: V8 lets the old generation grow to up to four times what survived
 * the last full collection before it collects again; an import's garbage (parsed batches promoted
 * while their writes are awaited) then piled up to ~100 MB over 27 MB live. Growing by half at
 * most costs about 1 s more CPU of 8-9 s and lowered the peak on PGlite from 383 to 313-318 MB
 * (`npm run bench:junit`, 100,000 cases, 2026-12-02; set at run time by the importer until
 * 2026-12-03, now here with the other flag).
 *
 * `--max-semi-space-size=2`: a young generation of two 2 MB semi-spaces instead of V8's 16 MB. The import
 * streams: after a full collection at its end, 22 MB of its heap were live, but the young
 * generation alone held 32 MB of resident memory (two 16 MB semi-spaces, grown to their maximum by
 * the parser's short-lived strings). `npm run bench:junit`, 100,000 cases on PGlite, 2026-12-03:
 * peak RSS 263-297 MB with 2 MB against 285-333 MB with the default (8 runs each), for up to 0.4 s more
 * (scavenges are more frequent); 1 MB cost more time for no clear gain, 4 MB saved little.
 * Not for `serve`: a server's throughput wants the larger young generation.
 */
export const commandNodeFlags = Object.freeze({
  'import-junit': Object.freeze(['--heap-growing-percent=50', '--max-semi-space-size=2']),
});

/**
 * The arguments to relaunch this CLI with (for `process.execPath`), or null when it already runs
 * as its command wants: `argv` is `process.argv.slice(1)` (the script, then the command and its
 * arguments), `execArgv` is `process.execArgv`.
 */
export function relaunchArguments(argv, execArgv) {
  const wanted = commandNodeFlags[argv[1]] ?? [];
  // A flag the user gave Node already, with any value, is theirs to choose: V8 would let the last
  // one win, so ours is left out rather than appended after it.
  const nameOf = (flag) => flag.split('=')[0].replace(/_/g, '-');
  const given = new Set(execArgv.map(nameOf));
  const missing = wanted.filter((flag) => !given.has(nameOf(flag)));
  if (missing.length === 0) return null;
  return [...execArgv, ...missing, ...argv];
}
