// The profiles/ data, compiled and validated at build time (scripts/build.mjs, vitest.config.ts).
import catalog from 'kvmkit:profiles';

export default catalog;
