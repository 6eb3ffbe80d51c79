import { defineConfig } from 'vitest/config';
import { compileProfiles } from './src/profiles/compile.js';

export default defineConfig({
  plugins: [
    {
      // The same compiled profiles the bundle carries (scripts/build.mjs).
      name: 'kvmkit-profiles',
      resolveId: (id) => (id === 'kvmkit:profiles' ? '\0kvmkit:profiles' : undefined),
      load: (id) =>
        id === '\0kvmkit:profiles'
          ? `export default ${JSON.stringify(compileProfiles('profiles'))};`
          : undefined,
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share one real libvirtd and one apt database: run files one at a time.
    fileParallelism: false,
  },
});
