// The bundle's entry (scripts/build.mjs). `kvmkit doctor` runs from a build of its own,
// dist/kvmkit/doctor/ (main and doctor's modules in a handful of files, not the main build's
// many chunks: Node's ESM loader pays for every module it fetches); every other command from
// the main build. The doctor build registers only doctor (main.ts's programFor, on the same
// argv[2]), so nothing of the main build is needed there.
type Main = typeof import('./main.js');
/** Not a literal: the doctor build is made beside this one, not bundled into it. */
const DOCTOR_BUILD = './doctor/main.js';
const { main }: Main = await (process.argv[2] === 'doctor' ? import(DOCTOR_BUILD) : import('./main.js'));

await main(process.argv);
