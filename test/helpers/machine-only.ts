// Machine tests change the system they run on: they install and purge packages, add users, start
// daemons and bridges. They run inside the workbench, a throwaway container
// (test/containers/workbench.containers.test.ts), which sets KVMKIT_WORKBENCH=1. Anywhere else,
// on a contributor's laptop or this machine, every machine test file stops here, before its first
// line runs (a test's top-level useradd included).
if (process.env.KVMKIT_WORKBENCH !== '1') {
  throw new Error(
    'machine tests change the system they run on, so they run only inside the workbench container: ' +
      'sudo KVMKIT_MACHINE_TESTS="test/FILE.test.ts" npx vitest run --project containers ' +
      'test/containers/workbench.containers.test.ts (or npm test, which runs them all there)',
  );
}
