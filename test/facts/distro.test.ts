import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type DistroSources,
  detectDistro,
  parseKeyValue,
  UnsupportedDistroError,
} from '../../src/facts/distro.js';
import catalog from '../../src/profiles/catalog.js';
import { FIXTURES } from '../helpers/fixtures.js';

function sources(tree: string): DistroSources {
  const read = (path: string) => {
    try {
      return readFileSync(join(FIXTURES, tree, path), 'utf8');
    } catch {
      return undefined;
    }
  };
  return {
    osRelease: read('etc/os-release'),
    lsbRelease: read('etc/lsb-release'),
    mintInfo: read('etc/linuxmint/info'),
  };
}
const detect = (s: DistroSources) => detectDistro(s, catalog.distros);

describe('parseKeyValue', () => {
  it('unquotes values and ignores comments and blank lines', () => {
    expect(parseKeyValue('# c\nNAME="Linux Mint"\nID=linuxmint\n\nX=\'a b\'\nY="say \\"hi\\""\n')).toEqual({
      NAME: 'Linux Mint',
      ID: 'linuxmint',
      X: 'a b',
      Y: 'say "hi"',
    });
  });
});

describe('detectDistro on recorded trees', () => {
  it.each([
    [
      'os-ubuntu-22.04',
      {
        id: 'ubuntu',
        version: '22.04',
        codename: 'jammy',
        base: { id: 'ubuntu', version: '22.04', codename: 'jammy' },
      },
    ],
    [
      'os-ubuntu-24.04',
      {
        id: 'ubuntu',
        version: '24.04',
        codename: 'noble',
        base: { id: 'ubuntu', version: '24.04', codename: 'noble' },
      },
    ],
    [
      'os-mint-21',
      {
        id: 'linuxmint',
        name: 'Linux Mint',
        version: '21',
        codename: 'vanessa',
        base: { id: 'ubuntu', version: '22.04', codename: 'jammy' },
      },
    ],
    [
      'os-mint-22.1',
      {
        id: 'linuxmint',
        version: '22.1',
        codename: 'xia',
        base: { id: 'ubuntu', version: '24.04', codename: 'noble' },
      },
    ],
    [
      'os-lmde-6',
      {
        id: 'lmde',
        name: 'LMDE',
        version: '6',
        codename: 'faye',
        base: { id: 'debian', version: '12', codename: 'bookworm' },
      },
    ],
    [
      'os-debian-12',
      {
        id: 'debian',
        version: '12',
        codename: 'bookworm',
        base: { id: 'debian', version: '12', codename: 'bookworm' },
      },
    ],
    [
      'os-mint-17.3',
      {
        id: 'linuxmint',
        version: '17.3',
        codename: 'rosa',
        base: { id: 'ubuntu', version: '14.04', codename: 'trusty' },
      },
    ],
    [
      'os-ubuntu-10.04',
      {
        id: 'ubuntu',
        version: '10.04',
        codename: 'lucid',
        base: { id: 'ubuntu', version: '10.04', codename: 'lucid' },
      },
    ],
  ])('%s', (tree, expected) => {
    expect(detect(sources(tree))).toMatchObject(expected);
  });

  it.each([
    ['os-fedora-40', /Fedora Linux 40.*not supported/],
    ['os-arch', /Arch Linux is not supported/],
  ])('refuses %s with a one-line reason', (tree, message) => {
    expect(() => detect(sources(tree))).toThrow(UnsupportedDistroError);
    expect(() => detect(sources(tree))).toThrow(message);
  });
});

describe('detectDistro on derivatives', () => {
  it('maps Pop!_OS through UBUNTU_CODENAME, keeping its own version', () => {
    const os =
      'NAME="Pop!_OS"\nVERSION="22.04 LTS"\nID=pop\nID_LIKE="ubuntu debian"\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nUBUNTU_CODENAME=jammy\n';
    expect(detect({ osRelease: os })).toMatchObject({
      id: 'pop',
      name: 'Pop!_OS',
      base: { id: 'ubuntu', version: '22.04' },
    });
  });

  it('maps elementary OS (own version numbers) to its Ubuntu base', () => {
    const os =
      'NAME="elementary OS"\nVERSION="7.1 Horus"\nID=elementary\nID_LIKE=ubuntu\nVERSION_ID="7.1"\nVERSION_CODENAME=horus\nUBUNTU_CODENAME=jammy\n';
    expect(detect({ osRelease: os })).toMatchObject({
      id: 'elementary',
      version: '7.1',
      base: { version: '22.04' },
    });
  });

  it('maps Zorin OS 17 to Ubuntu 22.04', () => {
    const os =
      'NAME="Zorin OS"\nVERSION="17.2"\nID=zorin\nID_LIKE="ubuntu debian"\nVERSION_ID="17"\nVERSION_CODENAME=jammy\nUBUNTU_CODENAME=jammy\n';
    expect(detect({ osRelease: os }).base).toEqual({ id: 'ubuntu', version: '22.04', codename: 'jammy' });
  });

  it('maps KDE neon to its Ubuntu base', () => {
    const os =
      'NAME="KDE neon"\nVERSION="6.2"\nID=neon\nID_LIKE="ubuntu debian"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n';
    expect(detect({ osRelease: os }).base.codename).toBe('noble');
  });

  it('knows Mint 18.0, whose os-release has no VERSION_CODENAME', () => {
    const os =
      'NAME="Linux Mint"\nVERSION="18 (Sarah)"\nID=linuxmint\nID_LIKE=ubuntu\nVERSION_ID="18"\nUBUNTU_CODENAME=xenial\n';
    expect(detect({ osRelease: os })).toMatchObject({ codename: 'sarah', base: { version: '16.04' } });
  });

  it('does not take LMDE for Ubuntu even though ID=linuxmint', () => {
    expect(detect(sources('os-lmde-6')).base.id).toBe('debian');
  });

  it('refuses an Ubuntu derivative on a base it does not know', () => {
    const os = 'NAME="Future"\nID=future\nID_LIKE=ubuntu\nVERSION_ID="1"\nUBUNTU_CODENAME=zzzzz\n';
    expect(() => detect({ osRelease: os })).toThrow(/not supported/);
  });

  it('says so when there is nothing to read', () => {
    expect(() => detect({})).toThrow(/cannot tell which distribution/);
  });
});
