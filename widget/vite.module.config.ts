import { readdirSync } from 'node:fs';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/**
 * The module build (`import { init } from 'bugloop/widget'`), run after the loader build
 * (`vite.config.ts`) into the same folder: `dist/widget/widget-module.js`, an ES module with the
 * same core as the script tag. Its lazy imports point at the chunks the loader build wrote, so
 * both entries share one copy of the dialog, transport and screenshot chunks (and a page that
 * has both loads each chunk once).
 */
const minify = !process.env.BUGLOOP_UNMINIFIED;
const outDir = path.resolve(import.meta.dirname, '../dist/widget');
const lazyChunks: Record<string, string> = { './dialog/open-dialog': 'open-dialog-', './transport': 'transport-' };

function sharedLazyChunks(): Plugin {
  return {
    name: 'bugloop-shared-lazy-chunks',
    enforce: 'pre',
    resolveId(source, importer) {
      const prefix = lazyChunks[source];
      if (!prefix || !importer?.endsWith(`${path.sep}widget${path.sep}index.ts`)) return null;
      const files = readdirSync(outDir).filter((file) => file.startsWith(prefix) && file.endsWith('.js'));
      if (files.length !== 1) this.error(`expected one ${prefix}*.js from the loader build in ${outDir}, found ${files.length}: run the loader build first`);
      // The output sits beside the chunks, so the specifier is the chunk's own file name.
      return { id: `./${files[0]}`, external: true };
    },
    generateBundle(_options, bundle) {
      const entry = bundle['widget-module.js'];
      if (entry?.type !== 'chunk') return this.error('widget-module.js was not written');
      for (const prefix of Object.values(lazyChunks)) {
        if (!entry.dynamicImports.some((file) => path.basename(file).startsWith(prefix))) this.error(`widget-module.js does not import the shared ${prefix}*.js chunk lazily`);
      }
      const own = Object.keys(bundle).filter((file) => file !== 'widget-module.js');
      if (own.length) this.error(`the module build wrote chunks of its own (${own.join(', ')}); it must reuse the loader build's`);
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [sharedLazyChunks()],
  build: {
    outDir,
    emptyOutDir: false,
    target: 'es2020',
    modulePreload: false,
    minify,
    lib: { entry: 'index.ts', formats: ['es'], fileName: () => 'widget-module.js' },
    rollupOptions: { output: { minify } },
  },
});
