import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// Two pages: the app (index.html) and the offline GraphiQL (graphiql.html).
// Everything is bundled from npm: nothing is loaded from a CDN at run time.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      // React libraries mark modules "use client"; irrelevant to a static bundle.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
      input: {
        app: resolve(import.meta.dirname, 'index.html'),
        graphiql: resolve(import.meta.dirname, 'graphiql.html'),
      },
    },
  },
});
