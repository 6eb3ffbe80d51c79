// The entry of the one-file build (Node's single executable applications take one CommonJS
// script, without top-level await): the same main as bin/kvmkit.
import { main } from './main.js';

main(process.argv).catch((error: unknown) => {
  process.stderr.write(`kvmkit: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
