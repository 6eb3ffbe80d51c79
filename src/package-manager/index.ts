import catalog from '../profiles/catalog.js';
import type { PackageManagerName } from '../profiles/types.js';
import { apt } from './apt.js';
import type { PackageManager } from './package-manager.js';

const MANAGERS: Record<PackageManagerName, PackageManager> = { apt };

/**
 * The package manager of a distro family, as profiles/families/<family>.yaml names it. A family
 * the catalog does not know (a host kvmkit cannot place), or none at hand (a hint written before
 * any host is read), gets apt, the first manager: on a host, its missing database then says the
 * host is not an apt-based system, as the steps have always said.
 */
export function packageManagerFor(family: string | undefined): PackageManager {
  const known = family === undefined ? undefined : catalog.families[family as keyof typeof catalog.families];
  return MANAGERS[known?.packageManager ?? 'apt'];
}
