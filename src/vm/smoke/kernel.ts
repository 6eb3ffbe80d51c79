import { Facts } from '../../facts/index.js';
import { type Host, type Runner, runOn } from '../../host/host.js';
import { VmError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import { BUNDLE_KERNEL, BUNDLE_MANIFEST, BUNDLE_STATE } from '../../lib/paths.js';
import type { PackageManager } from '../../package-manager/package-manager.js';
import { moduleNameOf } from './modules.js';

export interface SmokeKernel {
  vmlinuz: string;
  /** lib/modules/VERSION/kernel (or usr/lib/modules/VERSION/kernel) of the same kernel. */
  modulesDir: string;
  source: string;
}

const CACHE = '/var/lib/kvmkit/smoke';
/** What a kernel unpacked wrongly into the cache needs: it is fetched or unpacked again. */
const clearCache = () =>
  t('vm.kernel.clearCache', { command: `sudo rm -rf ${CACHE}/kernel ${CACHE}/download` });
const reinstall = () => t('vm.kernel.reinstall');

/**
 * A kernel for the smoke VM: the host's own when it is there (Ubuntu and Mint keep
 * /boot/vmlinuz-* readable by root), else Debian's cloud kernel, fetched by the host's package
 * manager (nothing installed) and unpacked under /var/lib/kvmkit/smoke, once. What changes the
 * host (the cache's directories, the fetch, the unpacking, the removal of the package file) goes
 * through `run`: in an install, the executor's, which shows and journals each command.
 */
export async function findSmokeKernel(host: Host, run: Runner = runOn(host)): Promise<SmokeKernel> {
  const release = (await host.readFile('/proc/sys/kernel/osrelease'))?.trim();
  const modulesDir = release ? await modulesDirOf(host, '', release) : undefined;
  if (release && modulesDir && (await host.stat(`/boot/vmlinuz-${release}`))) {
    return { vmlinuz: `/boot/vmlinuz-${release}`, modulesDir, source: t('vm.smoke.hostKernel') };
  }
  const cached = await cachedKernel(host);
  if (cached) return cached;
  const fromBundle = await bundleKernel(host, run);
  if (fromBundle) return fromBundle;
  const manager = await managerOf(host);
  const pkg = await cloudKernelPackage(host, manager);
  if (!pkg)
    throw new VmError(
      t('vm.kernel.noCloudKernel', {
        manager: manager.name,
        command: manager.dependsCommand(CLOUD_KERNEL).argv.join(' '),
      }),
      t('vm.kernel.noCloudKernelHint', { update: `sudo ${manager.updateHint}`, manager: manager.name }),
    );
  await run({ argv: ['mkdir', '-p', `${CACHE}/download`], root: true });
  const fetch = manager.downloadCommand(pkg);
  const download = await run({ ...fetch, root: true, cwd: `${CACHE}/download`, timeoutMs: 600_000 });
  const deb = (await host.listDir(`${CACHE}/download`))?.find(
    (f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'),
  );
  if (!deb)
    throw new VmError(
      t('vm.kernel.commandFailed', {
        command: `${fetch.argv.slice(0, 2).join(' ')} ${pkg}`,
        said: (download.stderr || download.stdout).trim().split('\n').at(-1) ?? '',
      }),
      t('vm.kernel.downloadHint', { manager: manager.name, update: `sudo ${manager.updateHint}` }),
    );
  const kernel = await unpackKernel(host, run, manager, `${CACHE}/download/${deb}`);
  await run(removeCommand(`${CACHE}/download/${deb}`));
  return kernel;
}

const removeCommand = (path: string) => ({ argv: ['rm', '-f', '--', path], root: true });

const CLOUD_KERNEL = 'linux-image-cloud-amd64';

/** The host's package manager (its distro family's), which fetches and unpacks the kernel package. */
const managerOf = (host: Host): Promise<PackageManager> => new Facts(host).packageManager();

/** The package the manager would install for Debian's cloud kernel (linux-image-VERSION-cloud-amd64). */
export async function cloudKernelPackage(host: Host, manager: PackageManager): Promise<string | undefined> {
  const depends = await host.run({ ...manager.dependsCommand(CLOUD_KERNEL), timeoutMs: 60_000 });
  for (const name of manager.parseDepends(depends.stdout)) {
    const kernel = /^(linux-image-\S+-cloud-amd64)/.exec(name)?.[1];
    if (kernel) return kernel;
  }
  return undefined;
}

/** A kernel package unpacked (nothing installed) into kvmkit's cache, where the smoke VM finds it. */
async function unpackKernel(
  host: Host,
  run: Runner,
  manager: PackageManager,
  deb: string,
): Promise<SmokeKernel> {
  await run({ argv: ['mkdir', '-p', `${CACHE}/kernel`], root: true });
  const unpack = manager.unpackCommand(deb, `${CACHE}/kernel`);
  const unpacked = await run({ ...unpack, timeoutMs: 300_000 });
  if (unpacked.exitCode !== 0)
    throw new VmError(
      t('vm.kernel.commandFailed', {
        command: `${unpack.argv.slice(0, 2).join(' ')} ${deb}`,
        said: oneLine(unpacked.stderr),
      }),
      clearCache(),
    );
  const kernel = await cachedKernel(host);
  if (!kernel) throw new VmError(t('vm.kernel.noKernel', { deb }), clearCache());
  return kernel;
}

/**
 * After kvmkit install --from DIR: the kernel the bundle carries, unpacked like a downloaded one,
 * so the smoke VM needs no network either. It is copied into kvmkit's root-only cache first and
 * that copy checked against the SHA256 recorded by install --from (the signed bundle.json's, or
 * for an unsigned bundle the one taken then), so what is unpacked as root is what was checked,
 * whatever the stick holds by now. Without a record the kernel is refused, not fetched instead:
 * the room has no network, and a network message would hide why.
 */
async function bundleKernel(host: Host, run: Runner): Promise<SmokeKernel | undefined> {
  const dir = (await host.readFile(`${BUNDLE_STATE}/source`))?.trim();
  if (!dir) return undefined;
  const text = (await host.readFile(BUNDLE_KERNEL))?.trim();
  if (text === 'none') return undefined;
  if (text === undefined) {
    // Installed by a kvmkit from before the record. A bundle that names no kernel had none to give.
    if (!(await bundleNamesKernel(host, dir))) return undefined;
    throw new VmError(t('vm.kernel.noRecord', { dir }), reinstall());
  }
  const record = /^([0-9a-f]{64}) {2}(\S+)$/.exec(text);
  if (!record) throw new VmError(t('vm.kernel.damaged', { file: BUNDLE_KERNEL }), reinstall());
  const [, sha256, file] = record;
  const copy = `${CACHE}/download/bundle-kernel.deb`;
  await run({ argv: ['mkdir', '-p', `${CACHE}/download`], root: true });
  const copied = await run({
    argv: ['cp', '--', `${dir}/${file}`, copy],
    root: true,
    timeoutMs: 300_000,
  });
  if (copied.exitCode !== 0)
    throw new VmError(
      t('vm.kernel.copyFailed', { file: file ?? '', said: oneLine(copied.stderr) }),
      t('vm.kernel.copyFailedHint', { dir }),
    );
  const sum = await host.run({ argv: ['sha256sum', '--', copy], root: true, timeoutMs: 300_000 });
  if (sum.stdout.split(' ')[0] !== sha256) {
    await run(removeCommand(copy));
    throw new VmError(
      t('vm.kernel.mismatch', { file: file ?? '', dir }),
      t('vm.kernel.mismatchHint', { dir }),
    );
  }
  const kernel = await unpackKernel(host, run, await managerOf(host), copy);
  await run(removeCommand(copy));
  return kernel;
}

/**
 * Whether the bundle.json at `dir` names a kernel; unreadable counts as yes. It only decides
 * between refusing and looking elsewhere: a changed file there can make kvmkit pass the bundle
 * by, never use anything in it unchecked.
 */
async function bundleNamesKernel(host: Host, dir: string): Promise<boolean> {
  try {
    return Boolean(JSON.parse((await host.readFile(`${dir}/${BUNDLE_MANIFEST}`)) ?? '').kernel);
  } catch {
    return true;
  }
}

/** A command's complaint as one line: the CLI shows errors one line and a hint. */
const oneLine = (text: string) =>
  text
    .trim()
    .split(/\s*\n\s*/)
    .join(' / ');

function cachedKernel(host: Host): Promise<SmokeKernel | undefined> {
  return unpackedKernel(host, `${CACHE}/kernel`);
}

/**
 * A kernel package as unpacked (unpackCommand) under `root`: boot/vmlinuz-VERSION and its modules,
 * under lib/modules (Debian 12 and before) or usr/lib/modules (Debian 13's merged /usr: the file
 * list of linux-image-6.12.117+deb13-cloud-amd64); unpacking makes no /lib → usr/lib link.
 */
export async function unpackedKernel(host: Host, root: string): Promise<SmokeKernel | undefined> {
  const boot = (await host.listDir(`${root}/boot`)) ?? [];
  const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) return undefined;
  const version = vmlinuz.slice('vmlinuz-'.length);
  return {
    vmlinuz: `${root}/boot/${vmlinuz}`,
    // Neither there: the caller finds no module and says so.
    modulesDir: (await modulesDirOf(host, root, version)) ?? `${root}/usr/lib/modules/${version}/kernel`,
    source: t('vm.kernel.debianCloud', { version }),
  };
}

/** Where a kernel's modules are under `root` ('' for the host itself): lib/modules, else usr/lib/modules. */
export async function modulesDirOf(host: Host, root: string, version: string): Promise<string | undefined> {
  for (const dir of [`${root}/lib/modules/${version}/kernel`, `${root}/usr/lib/modules/${version}/kernel`])
    if ((await host.stat(dir))?.isDirectory) return dir;
  return undefined;
}

/**
 * Module name → file, for the whole tree (names use _ where files may use -). Files plain or
 * compressed (.ko, .ko.xz, .ko.zst, .ko.gz); should a name have two, the plain one wins.
 */
export async function indexModules(host: Host, dir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  const walk = async (path: string): Promise<void> => {
    const entries = (await host.listDir(path)) ?? [];
    await Promise.all(
      entries.map(async (entry) => {
        const full = `${path}/${entry}`;
        const name = moduleNameOf(entry);
        if (name) {
          if (!index.has(name) || entry.endsWith('.ko')) index.set(name, full);
        } else if (!entry.includes('.')) await walk(full);
      }),
    );
  };
  await walk(dir);
  return index;
}
