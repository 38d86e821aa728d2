import { defineConfig, type Plugin } from 'vite';
import preact from '@preact/preset-vite';

/**
 * Two-stage build of the widget. The entry (`widget.js`) is a classic `<script async>`: it must
 * contain no top-level `import`/`export` and no `import.meta`, and no lazy chunk may import it
 * (that would run the loader a second time as a module). Lazy chunks are loaded with `import()`,
 * which in a classic script resolves relative to the script's own URL.
 */
function classicLoaderGuard(): Plugin {
  return {
    name: 'bugloop-classic-loader-guard',
    generateBundle(_options, bundle) {
      for (const [fileName, output] of Object.entries(bundle)) {
        if (output.type !== 'chunk') continue;
        if (fileName === 'widget.js' && (output.imports.length || output.exports.length || output.code.includes('import.meta')))
          this.error(`widget.js must stay a classic script (imports: ${output.imports.join(', ')}; exports: ${output.exports.join(', ')})`);
        if (output.imports.includes('widget.js')) this.error(`${fileName} imports the loader; move the shared code out of the loader or pass it through the runtime`);
      }
      const loader = bundle['widget.js'];
      if (loader?.type !== 'chunk') return;
      // A cross-origin classic script's import() resolves against about:blank, so chunk URLs are
      // made absolute from the script's own URL. The function wrapper also keeps the minified
      // top-level names out of the page's global scope.
      const code = loader.code.replace(/import\((([`"'])\.\/[^`"']+\2)\)/g, 'import(new URL($1,bugloopBase).href)');
      if (code === loader.code) this.error('no lazy chunk import found in widget.js');
      loader.code = `(function(bugloopBase){${code}\n})(document.currentScript&&document.currentScript.src||location.href);\n`;
    },
  };
}

// BUGLOOP_UNMINIFIED=1 keeps names readable, for CPU profiles of the capture.
const minify = !process.env.BUGLOOP_UNMINIFIED;

export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false }), ...(process.env.BUGLOOP_NO_GUARD ? [] : [classicLoaderGuard()])],
  build: {
    outDir: '../dist/widget',
    emptyOutDir: true,
    target: 'es2020',
    modulePreload: false,
    minify,
    // Library mode: Vite then adds no module-preload helper (it would live in the entry and make
    // every chunk import the loader).
    lib: { entry: 'loader.ts', formats: ['es'], fileName: () => 'widget.js' },
    rollupOptions: { output: { chunkFileNames: '[name]-[hash].js', minify } },
  },
});
