import { defineConfig } from 'vite';

// Placeholder build of the loader; the widget issue replaces it with the two-stage build.
export default defineConfig({
  build: {
    outDir: '../dist/widget',
    emptyOutDir: true,
    lib: { entry: 'loader.ts', name: 'Bugloop', formats: ['iife'], fileName: () => 'widget.js' },
  },
  root: import.meta.dirname,
});
