// The bundle's entry (scripts/build.mjs). `kvmkit doctor` runs from a build of its own,
// dist/kvmkit/doctor/main.js (main and doctor's modules in one file, not the main build's many
// chunks: Node's ESM loader pays for every module it fetches), and so do the day-two `kvmkit vm`
// verbs (dist/kvmkit/vm/main.js); every other command from the main build. Such a build
// registers only its command (main.ts's programFor, on the same argv[2]), so the other
// commands' modules are not in it.
type Main = typeof import('./main.js');
/** Not literals: these builds are made beside this one, not bundled into it. */
const DOCTOR_BUILD = './doctor/main.js';
const VM_BUILD = './vm/main.js';
const [command, verb] = process.argv.slice(2);
/** vm create and vm delete need vm-command.js, which the vm build leaves out. */
const dayTwoVerb =
  command === 'vm' && verb !== undefined && !verb.startsWith('-') && verb !== 'create' && verb !== 'delete';
const { main }: Main = await (command === 'doctor'
  ? import(DOCTOR_BUILD)
  : dayTwoVerb
    ? import(VM_BUILD)
    : import('./main.js'));

await main(process.argv);
