import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { Distro, DistroTables } from '../profiles/types.js';

export class UnsupportedDistroError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** KEY=value lines, values optionally quoted (os-release(5), lsb-release, /etc/linuxmint/info). */
export function parseKeyValue(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    if (/^".*"$|^'.*'$/.test(value)) value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[match[1]!] = value;
  }
  return out;
}

export interface DistroSources {
  osRelease?: string;
  lsbRelease?: string;
  mintInfo?: string;
}

function codenameOf(table: Record<string, string>, version: string): string | undefined {
  return table[version];
}

function versionOf(table: Record<string, string>, codename: string): string | undefined {
  return Object.entries(table).find(([, c]) => c === codename)?.[0];
}

/**
 * Names the distro and its base from os-release, falling back to lsb-release (Ubuntu 9.10/10.04
 * have only that; Mint 17.x ships Ubuntu's own os-release and says "LinuxMint" only there).
 */
export function detectDistro(sources: DistroSources, tables: DistroTables): Distro {
  const os = sources.osRelease ? parseKeyValue(sources.osRelease) : {};
  const lsb = sources.lsbRelease ? parseKeyValue(sources.lsbRelease) : {};
  const mint = sources.mintInfo ? parseKeyValue(sources.mintInfo) : {};
  const like = (os.ID_LIKE ?? '').split(/\s+/);

  // Linux Mint 17.x: os-release is Ubuntu's, lsb-release tells the truth.
  if (lsb.DISTRIB_ID === 'LinuxMint' && os.ID !== 'linuxmint') {
    return mintDistro(
      lsb.DISTRIB_RELEASE ?? mint.RELEASE ?? '',
      lsb.DISTRIB_CODENAME ?? mint.CODENAME,
      tables,
    );
  }

  const id = os.ID ?? lsb.DISTRIB_ID?.toLowerCase();
  if (id === undefined) {
    throw new UnsupportedDistroError(t('doctor.distro.unknown'), t('doctor.distro.unknownHint'));
  }

  if (id === 'linuxmint' && like.includes('debian') && !like.includes('ubuntu')) {
    return lmdeDistro(os, tables);
  }
  if (id === 'linuxmint') {
    return mintDistro(os.VERSION_ID ?? mint.RELEASE ?? '', os.VERSION_CODENAME ?? mint.CODENAME, tables, os);
  }
  if (id === 'ubuntu') {
    const version = os.VERSION_ID ?? lsb.DISTRIB_RELEASE ?? '';
    const codename =
      os.VERSION_CODENAME ??
      os.UBUNTU_CODENAME ??
      lsb.DISTRIB_CODENAME ??
      codenameOf(tables.ubuntu, version) ??
      '';
    return { id, name: 'Ubuntu', version, codename, base: { id: 'ubuntu', version, codename } };
  }
  if (id === 'debian') {
    const version = (os.VERSION_ID ?? '').split('.')[0] ?? '';
    const codename = os.VERSION_CODENAME ?? codenameOf(tables.debian, version) ?? '';
    // testing/sid have no VERSION_ID: place them by codename.
    const resolved = version || versionOf(tables.debian, codename) || '';
    if (!resolved) {
      throw new UnsupportedDistroError(
        t('doctor.distro.debianNoNumber', { codename: codename || 'testing/unstable' }),
        t('doctor.distro.knowsDebian', { versions: Object.keys(tables.debian).join(', ') }),
      );
    }
    return {
      id,
      name: 'Debian',
      version: resolved,
      codename,
      base: { id: 'debian', version: resolved, codename },
    };
  }
  // Other derivatives: Ubuntu-based ones carry UBUNTU_CODENAME, Debian-based ones DEBIAN_CODENAME.
  const name = os.NAME ?? id;
  const version = os.VERSION_ID ?? '';
  const codename = os.VERSION_CODENAME ?? '';
  /** The derivative on `base`'s release named `baseCodename`, if kvmkit knows that release. */
  const derivedFrom = (base: Distro['base']['id'], baseCodename: string): Distro | undefined => {
    const baseVersion = versionOf(tables[base], baseCodename);
    return baseVersion
      ? { id, name, version, codename, base: { id: base, version: baseVersion, codename: baseCodename } }
      : undefined;
  };
  const derived =
    (like.includes('ubuntu') && os.UBUNTU_CODENAME ? derivedFrom('ubuntu', os.UBUNTU_CODENAME) : undefined) ??
    (like.includes('debian')
      ? derivedFrom('debian', os.DEBIAN_CODENAME ?? os.VERSION_CODENAME ?? '')
      : undefined);
  if (derived) return derived;
  throw new UnsupportedDistroError(
    t('doctor.distro.unsupported', { name: os.PRETTY_NAME ?? name }),
    like.includes('ubuntu') || like.includes('debian')
      ? t('doctor.distro.unknownBase', {
          codename: os.UBUNTU_CODENAME ?? os.DEBIAN_CODENAME ?? t('doctor.distro.unknownCodename'),
        })
      : t('doctor.distro.otherDistros'),
  );
}

function mintDistro(
  version: string,
  codename: string | undefined,
  tables: DistroTables,
  os: Record<string, string> = {},
): Distro {
  const entry = tables.mint[version] ?? tables.mint[version.replace(/\.0$/, '')];
  const baseCodename = os.UBUNTU_CODENAME ?? entry?.[1];
  const baseVersion = baseCodename ? versionOf(tables.ubuntu, baseCodename) : undefined;
  if (!baseCodename || !baseVersion) {
    throw new UnsupportedDistroError(
      t('doctor.distro.mintUnknown', { version }),
      t('doctor.distro.knowsMint', {
        first: Object.keys(tables.mint)[0] ?? '',
        last: Object.keys(tables.mint).at(-1) ?? '',
      }),
    );
  }
  return {
    id: 'linuxmint',
    name: 'Linux Mint', // i18n: machine — the distribution's name
    version,
    codename: codename ?? entry?.[0] ?? '',
    base: { id: 'ubuntu', version: baseVersion, codename: baseCodename },
  };
}

function lmdeDistro(os: Record<string, string>, tables: DistroTables): Distro {
  const version = os.VERSION_ID ?? '';
  const entry = tables.lmde[version];
  const baseCodename = os.DEBIAN_CODENAME ?? entry?.[1] ?? '';
  const baseVersion = versionOf(tables.debian, baseCodename);
  if (!baseVersion) {
    throw new UnsupportedDistroError(
      t('doctor.distro.lmdeUnknown', { version, codename: baseCodename || t('doctor.distro.noCodename') }),
      t('doctor.distro.knowsDebian', { versions: Object.keys(tables.debian).join(', ') }),
    );
  }
  return {
    id: 'lmde',
    name: 'LMDE',
    version,
    codename: os.VERSION_CODENAME ?? entry?.[0] ?? '',
    base: { id: 'debian', version: baseVersion, codename: baseCodename },
  };
}

export async function readDistroSources(host: Host): Promise<DistroSources> {
  const [osRelease, usrOsRelease, lsbRelease, mintInfo] = await Promise.all([
    host.readFile('/etc/os-release'),
    host.readFile('/usr/lib/os-release'),
    host.readFile('/etc/lsb-release'),
    host.readFile('/etc/linuxmint/info'),
  ]);
  return { osRelease: osRelease ?? usrOsRelease, lsbRelease, mintInfo };
}
