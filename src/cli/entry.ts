// The bundle's entry (scripts/build.mjs). `kvmkit doctor` runs from a build of its own,
// dist/kvmkit/doctor/main.js (main and doctor's modules in one file, not the main build's many
// chunks: Node's ESM loader pays for every module it fetches); every other command from the
// main build. The doctor build registers only doctor (main.ts's programFor, on the same
// argv[2]), so the other commands' modules are not in it.
type Main = typeof import('./main.js');
/** Not a literal: the doctor build is made beside this one, not bundled into it. */
const DOCTOR_BUILD = './doctor/main.js';
const { main }: Main = await (process.argv[2] === 'doctor' ? import(DOCTOR_BUILD) : import('./main.js'));

await main(process.argv);
