import type { Host } from '../host/host.js';
import { packageManagerFor } from '../package-manager/index.js';
import type { InstalledPackages, PackageManager } from '../package-manager/package-manager.js';
import catalog from '../profiles/catalog.js';
import type { Distro } from '../profiles/types.js';
import { type CpuFacts, readCpu } from './cpu.js';
import { detectDistro, readDistroSources } from './distro.js';
import { type FirmwareFacts, readFirmware } from './firmware.js';
import { type KvmFacts, readKvm } from './kvm.js';
import { type LibvirtFacts, readLibvirt, readLibvirtLive } from './libvirt.js';
import { readLoadedModules } from './modules.js';
import { scanProcesses } from './processes.js';
import { readSystem, type SystemFacts } from './system.js';
import { readUser, type UserFacts } from './users.js';

/**
 * Read-only probes of one host, each computed on first use and kept for the life of this object.
 * Checks and steps ask for what they need; nothing is read twice and nothing unneeded is read.
 * The executor makes a fresh Facts before each step, so a step never plans on stale facts.
 */
export class Facts {
  private cache = new Map<string, Promise<unknown>>();

  constructor(readonly host: Host) {}

  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    let value = this.cache.get(key) as Promise<T> | undefined;
    if (!value) {
      value = read();
      this.cache.set(key, value);
    }
    return value;
  }

  cpu(): Promise<CpuFacts | undefined> {
    return this.once('cpu', () => readCpu(this.host));
  }

  modules(): Promise<Set<string>> {
    return this.once('modules', () => readLoadedModules(this.host));
  }

  async kvm(): Promise<KvmFacts> {
    return this.once('kvm', async () => readKvm(this.host, await this.modules()));
  }

  /**
   * `detail`: also read the kernel log (its files, else dmesg). Never loads the msr module: a fact
   * only reads, so without /dev/cpu/0/msr the MSR is unread and `msrUnread` says why
   * (`kvmkit doctor --deep` loads it as an action of its own, then reads facts afresh).
   */
  firmware(detail: boolean): Promise<FirmwareFacts> {
    return this.once(`firmware:${detail}`, async () =>
      readFirmware(this.host, (await this.cpu())?.vendor ?? 'other', { needKernelLog: detail }),
    );
  }

  /** Throws UnsupportedDistroError for a distro kvmkit cannot serve. */
  distro(): Promise<Distro> {
    return this.once('distro', async () => detectDistro(await readDistroSources(this.host), catalog.distros));
  }

  system(): Promise<SystemFacts> {
    return this.once('system', () => readSystem(this.host));
  }

  user(): Promise<UserFacts | undefined> {
    return this.once('user', () => readUser(this.host));
  }

  /** The package manager of the host's distro family (profiles), apt where the distro is unknown. */
  packageManager(): Promise<PackageManager> {
    return this.once('package-manager', async () =>
      packageManagerFor(
        await this.distro().then(
          (d) => d.base.id,
          () => undefined,
        ),
      ),
    );
  }

  /** The installed packages, parsed once for every step and check (undefined: no package database). */
  installedPackages(): Promise<InstalledPackages | undefined> {
    return this.once('installed-packages', async () =>
      (await this.packageManager()).readInstalled(this.host),
    );
  }

  libvirt(): Promise<LibvirtFacts> {
    return this.once('libvirt', () => readLibvirt(this.host, () => this.processes()));
  }

  /** Running processes' pids by command name: /proc scanned once for every fact and step. */
  processes(): Promise<Map<string, number[]>> {
    return this.once('processes', () => scanProcesses(this.host));
  }

  /** The default network and pool as libvirtd reports them (the steps plan from this). */
  async libvirtLive(): Promise<Pick<LibvirtFacts, 'defaultNetwork' | 'defaultPool'>> {
    return this.once('libvirt-live', async () => readLibvirtLive(this.host, await this.libvirt()));
  }
}
