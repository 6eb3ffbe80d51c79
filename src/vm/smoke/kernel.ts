import type { Host } from '../../host/host.js';
import { BUNDLE_KERNEL, BUNDLE_MANIFEST, BUNDLE_STATE } from '../../lib/paths.js';
import type { PackageManager } from '../../package-manager/package-manager.js';
import { type BundleRefusal, CLOUD_KERNEL } from './guest-kernel.js';

/** The package the manager would install for Debian's cloud kernel (linux-image-VERSION-cloud-amd64). */
export async function cloudKernelPackage(host: Host, manager: PackageManager): Promise<string | undefined> {
  const depends = await host.run({ ...manager.dependsCommand(CLOUD_KERNEL), timeoutMs: 60_000 });
  for (const name of manager.parseDepends(depends.stdout)) {
    const kernel = /^(linux-image-\S+-cloud-amd64)/.exec(name)?.[1];
    if (kernel) return kernel;
  }
  return undefined;
}

/**
 * After kvmkit install --from DIR: the kernel package the bundle carries and the SHA256 recorded
 * then (the signed bundle.json's, or for an unsigned bundle the one taken at install), which the
 * guest-kernel script checks its own copy against before unpacking it as root. Undefined when
 * kvmkit was not installed from a bundle, or from one without a kernel. Without a record (or with
 * a damaged one) the kernel is refused, not fetched instead: the room has no network, and a
 * network message would hide why. Reads only.
 */
export async function bundleKernel(
  host: Host,
): Promise<{ path: string; sha256: string } | BundleRefusal | undefined> {
  const dir = (await host.readFile(`${BUNDLE_STATE}/source`))?.trim();
  if (!dir) return undefined;
  const text = (await host.readFile(BUNDLE_KERNEL))?.trim();
  if (text === 'none') return undefined;
  if (text === undefined) {
    // Installed by a kvmkit from before the record. A bundle that names no kernel had none to give.
    if (!(await bundleNamesKernel(host, dir))) return undefined;
    return { refusal: 'no-record', arg: dir };
  }
  const record = /^([0-9a-f]{64}) {2}(\S+)$/.exec(text);
  if (!record) return { refusal: 'damaged', arg: BUNDLE_KERNEL };
  return { path: `${dir}/${record[2]}`, sha256: record[1]! };
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
