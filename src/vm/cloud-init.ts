import { stringify } from 'yaml';
import { parsePasswd } from '../facts/users.js';
import { type Host, type Runner, runOn } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { runAction, type VmAction, writeAction } from './vm-actions.js';

export interface SeedInput {
  hostname: string;
  user: string;
  sshKeys: string[];
  /** Packages the guest installs from its own archive on first boot (cloud-init's `packages`). */
  packages?: string[];
}

/**
 * The guest tools the guide installs, which belong inside a guest, not on the host: the QEMU guest
 * agent (libvirt's shutdown, fs-freeze and address queries through virt-install's channel) and
 * spice-vdagent (clipboard and resolution once the VM has a SPICE display, e.g. added in
 * virt-manager). Names shared by Debian's and Ubuntu's archives.
 */
export const GUEST_TOOLS = ['qemu-guest-agent', 'spice-vdagent'];

/**
 * NoCloud meta-data and user-data: the hostname, the invoking user with their SSH keys, and the
 * packages to install, if any (a guest without a network logs their failure and boots on).
 */
export function seedFiles(input: SeedInput): { metaData: string; userData: string } {
  // lineWidth 0: never fold a long value (an SSH key) over lines. YAML 1.1, as cloud-init's
  // PyYAML reads it: a name such as `no` or `on` is quoted, not a boolean.
  const metaData = stringify(
    { 'instance-id': `kvmkit-${input.hostname}`, 'local-hostname': input.hostname },
    { lineWidth: 0, version: '1.1' },
  );
  const userData = `#cloud-config\n${stringify(
    {
      hostname: input.hostname,
      users: [
        {
          name: input.user,
          sudo: 'ALL=(ALL) NOPASSWD:ALL',
          shell: '/bin/bash',
          ssh_authorized_keys: input.sshKeys,
        },
      ],
      ...(input.packages?.length ? { packages: input.packages } : {}),
    },
    { lineWidth: 0, version: '1.1' },
  )}`;
  return { metaData, userData };
}

/** The user's SSH public keys (~/.ssh/*.pub), read as root on their behalf. */
export async function userPublicKeys(host: Host, user: string): Promise<string[]> {
  const entry = parsePasswd((await host.readFile('/etc/passwd')) ?? '').find((p) => p.name === user);
  if (!entry) return [];
  const dir = `${entry.home}/.ssh`;
  const files = ((await host.listDir(dir)) ?? []).filter((f) => f.endsWith('.pub')).sort();
  const keys = await Promise.all(files.map((f) => host.readFile(`${dir}/${f}`)));
  return keys.map((k) => k?.trim() ?? '').filter((k) => /^(ssh-|ecdsa-|sk-)/.test(k));
}

/**
 * The seed cloud-init's NoCloud source reads: an ISO 9660 volume labelled "cidata" holding
 * user-data and meta-data (what cloud-localds makes), written with genisoimage from two files
 * beside it, which are removed after.
 */
export function seedIsoActions(path: string, input: SeedInput): VmAction[] {
  const { metaData, userData } = seedFiles(input);
  const dir = `${path}.d`;
  return [
    writeAction(`${dir}/meta-data`, metaData),
    writeAction(`${dir}/user-data`, userData),
    ...seedIsoMaking(path),
  ];
}

/**
 * The seed's files as templates, for a VM planned where the user's keys are not known (an
 * export): user-data goes to user-data.in with `keysMark` where the keys will be, filled in on
 * the target (cloud-inputs.ts) before seedIsoMaking runs.
 */
export function seedTemplateWrites(
  path: string,
  input: Omit<SeedInput, 'sshKeys'>,
  keysMark: string,
): VmAction[] {
  const { metaData, userData } = seedFiles({ ...input, sshKeys: [keysMark] });
  return [writeAction(`${path}.d/meta-data`, metaData), writeAction(`${path}.d/user-data.in`, userData)];
}

/** genisoimage making the seed at `path` from PATH.d/{user-data,meta-data}, which then go. */
export function seedIsoMaking(path: string): VmAction[] {
  const dir = `${path}.d`;
  return [
    runAction(
      {
        argv: [
          'genisoimage',
          '-quiet',
          '-output',
          path,
          '-volid',
          'cidata',
          '-joliet',
          '-rock',
          `${dir}/user-data`,
          `${dir}/meta-data`,
        ],
        root: true,
        timeoutMs: 60_000,
      },
      t('vm.cloudInit.genisoimageFailed'),
    ),
    runAction({ argv: ['rm', '-rf', dir], root: true }),
  ];
}

/**
 * Makes an ed25519 key pair for a user who has none, as that user (so they own it), only when
 * they said yes (--generate-key, or the guided question). Through `run`: in an install, the
 * executor's, which shows and journals the commands.
 */
export async function generateUserKey(
  host: Host,
  user: string,
  run: Runner = runOn(host),
): Promise<string[]> {
  const entry = parsePasswd((await host.readFile('/etc/passwd')) ?? '').find((p) => p.name === user);
  if (!entry) throw new Error(t('vm.cloudInit.noUser', { user }));
  const as = (...argv: string[]) =>
    run({ argv: ['runuser', '-u', user, '--', ...argv], root: true, timeoutMs: 60_000 });
  await as('mkdir', '-p', '-m', '700', `${entry.home}/.ssh`);
  const made = await as(
    'ssh-keygen',
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    `${user}@kvmkit`,
    '-f',
    `${entry.home}/.ssh/id_ed25519`,
  );
  if (made.exitCode !== 0)
    throw new Error(t('vm.cloudInit.keygenFailed', { user, said: made.stderr.trim() }));
  return userPublicKeys(host, user);
}
