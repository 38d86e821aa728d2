// How the CLI is compiled: by `npm run build:cli` (scripts/build-cli.mjs) and, for the import it
// measures, by `npm run bench:junit`, so that the bench measures what bin/bugloop.js runs.
/** esbuild options: ES modules for Node 20, packages left as imports of node_modules. */
export const cliBuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
};
