import { defineConfig } from 'vitest/config';
import { catalogueModule, readCatalogue } from './scripts/locales.mjs';
import { compileProfiles } from './src/profiles/compile.js';

/**
 * Tests that need no root, no system package and touch nothing outside temp folders:
 * `npm run test:unit` runs them on any machine with Node, as any user. A file not listed here is
 * a machine test (it installs, purges, starts daemons or builds namespaces): those run only inside
 * the throwaway workbench container (test/containers/workbench.containers.test.ts), never on the
 * machine that runs `npm test`.
 */
export const UNIT_TESTS = [
  'test/bridge/bridge-interrupt.test.ts',
  'test/bridge/bridge-nm-dns.test.ts',
  'test/bridge/bridge-nm-routes-ipv6.test.ts',
  'test/bridge/bridge-restore-script-quoting.test.ts',
  'test/bridge/bridge-rollback.test.ts',
  'test/checks/check-mode.test.ts',
  'test/checks/doctor-deep.test.ts',
  'test/checks/doctor-fixtures.test.ts',
  'test/cli/bad-input-cli.test.ts',
  'test/cli/cli.test.ts',
  'test/cli/closed-pipe.test.ts',
  'test/cli/elevate-bridge-env.test.ts',
  'test/cli/entry-builds.test.ts',
  'test/cli/elevate-sea.test.ts',
  'test/cli/host-from-flags.test.ts',
  'test/cli/language.test.ts',
  'test/cli/image-source-trust.test.ts',
  'test/cli/uninstall-plan.test.ts',
  'test/cli/vm-create-xml-cli.test.ts',
  'test/export/ansible-releases.test.ts',
  'test/export/ansible-matches-sh.test.ts',
  'test/export/bridge-export.test.ts',
  'test/export/first-vm-export.test.ts',
  'test/export/nested.test.ts',
  'test/facts/*.test.ts',
  'test/host/failure-reason.test.ts',
  'test/host/file-modes.test.ts',
  'test/host/fixture-host.test.ts',
  'test/host/real-host.test.ts',
  'test/host/ssh-control-path.test.ts',
  'test/host/ssh-sudo-resolve.test.ts',
  'test/host/temp-dir.test.ts',
  'test/host/virsh.test.ts',
  'test/layers.test.ts',
  'test/lib/*.test.ts',
  'test/package-manager/*.test.ts',
  'test/plan/**/*.test.ts',
  'test/profiles/profiles.test.ts',
  'test/profiles/release-order.test.ts',
  'test/scripts/*.test.ts',
  'test/steps/*.test.ts',
  'test/ui/*.test.ts',
  'test/vm/cloud-inputs.test.ts',
  'test/vm/ssh-banner.test.ts',
  'test/vm/guest-kernel.test.ts',
  'test/vm/vm-actions.test.ts',
  'test/vm/addresses.test.ts',
  'test/vm/cloud-keyring.test.ts',
  'test/vm/console-failure.test.ts',
  'test/vm/delete-missing.test.ts',
  'test/vm/delete-plan.test.ts',
  'test/vm/elf.test.ts',
  'test/vm/iso-cleanup.test.ts',
  'test/vm/iso-sizing.test.ts',
  'test/vm/manage-parse.test.ts',
  'test/vm/osinfo.test.ts',
  'test/vm/smoke-kernel.test.ts',
  'test/vm/target-temp-files.test.ts',
  'test/vm/verify-console.test.ts',
  'test/vm/vm-disk-reuse.test.ts',
  'test/vm/vm-plans.test.ts',
  'test/vm/xml-vm.test.ts',
];
/** Pristine Debian hosts booted with systemd in throwaway containers (test/containers). */
const CONTAINER_TESTS = ['test/containers/**/*.containers.test.ts'];

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
    {
      // The merged message catalogues, as the build makes them (scripts/locales.mjs).
      name: 'kvmkit-locales',
      resolveId: (id) => (/^kvmkit:locales\/[a-z]+$/.test(id) ? `\0${id}` : undefined),
      load: (id) =>
        id.startsWith('\0kvmkit:locales/')
          ? catalogueModule(readCatalogue('.', id.slice('\0kvmkit:locales/'.length)))
          : undefined,
    },
  ],
  test: {
    // Tests read kvmkit's English: a contributor's own locale (LANG=vi_VN.UTF-8) must not change
    // what they see. Tests of Vietnamese ask for it (--lang vi, or LANG in a child's env).
    env: { LC_ALL: '', LC_MESSAGES: '', LANG: 'C.UTF-8' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share one real libvirtd and one apt database: run files one at a time.
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT_TESTS } },
      {
        extends: true,
        test: {
          name: 'machine',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT_TESTS, ...CONTAINER_TESTS],
          // Only inside the workbench container: they change the system they run on.
          setupFiles: ['test/helpers/machine-only.ts'],
        },
      },
      { extends: true, test: { name: 'containers', include: CONTAINER_TESTS } },
    ],
  },
});
