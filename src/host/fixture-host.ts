import { join, normalize } from 'node:path';
import { t } from '../lib/i18n.js';
import { fsAsync } from './fs-async.js';
import type { Command, FileStat, Host, ProcessIdentity, RunResult, TempDir } from './host.js';
import { fileStat } from './host.js';
import { readBytesAt } from './read-bytes.js';

/** A device node as recorded on its host: `mode` in octal ("0660"), its owner and group by number. */
export interface RecordedDevice {
  mode: string;
  uid: number;
  gid: number;
}

/**
 * What a recorded host cannot hold as plain files: who ran kvmkit there, its environment, the
 * free disk, and the mode and owner of its device nodes. Read from `fixture.json` at the root of
 * the tree (the same file tells the test harness which device stand-ins and sparse CPUID/MSR
 * files to generate).
 */
export interface FixtureDescription {
  source?: string;
  identity?: ProcessIdentity;
  env?: Record<string, string>;
  freeBytes?: Record<string, number>;
  /**
   * By absolute host path (`/dev/kvm`): the mode and owner its stand-in file shows, whoever owns
   * the copy of the tree (only root could give a file root:kvm, and a tree copied by a user is
   * the user's).
   */
  devices?: Record<string, RecordedDevice>;
}

/**
 * A host rooted at a directory: a read of /X reads DIR/X and no command ever runs. A device
 * node (/dev/kvm, /dev/cpu/0/msr) is stood for by a regular file of the same name; its mode and
 * owner are those `fixture.json` records for it (`devices`), else the file's own.
 */
export class FixtureHost implements Host {
  readonly kind = 'fixture' as const;
  readonly description: string;
  get label(): string {
    return t('host.fixtureTree', { root: this.root });
  }
  private descriptionFile: Promise<FixtureDescription> | undefined;

  constructor(readonly root: string) {
    // i18n: machine (doctor's JSON and the report files carry it as the host)
    this.description = `fixture tree ${root}`;
  }

  /** Maps an absolute host path into the tree; `..` cannot climb out of it. */
  resolve(path: string): string {
    return join(this.root, normalize(`/${path}`));
  }

  fixture(): Promise<FixtureDescription> {
    this.descriptionFile ??= fsAsync()
      .readFile(join(this.root, 'fixture.json'), 'utf8')
      .then(
        (text) => JSON.parse(text) as FixtureDescription,
        () => ({}),
      );
    return this.descriptionFile;
  }

  async readFile(path: string): Promise<string | undefined> {
    try {
      return await fsAsync().readFile(this.resolve(path), 'utf8');
    } catch {
      return undefined;
    }
  }

  async readBinary(path: string): Promise<Buffer | undefined> {
    try {
      return await fsAsync().readFile(this.resolve(path));
    } catch {
      return undefined;
    }
  }

  readBytes(path: string, offset: bigint, length: number): Promise<Buffer | undefined> {
    return readBytesAt(this.resolve(path), offset, length);
  }

  async stat(path: string): Promise<FileStat | undefined> {
    try {
      const s = fileStat(await fsAsync().stat(this.resolve(path)));
      // A regular file stands for a device node under /dev, with the mode and owner recorded for it.
      if (path.startsWith('/dev/') && s.isFile) {
        const recorded = (await this.fixture()).devices?.[normalize(path)];
        const owner = recorded
          ? { mode: Number.parseInt(recorded.mode, 8), uid: recorded.uid, gid: recorded.gid }
          : {};
        return { ...s, ...owner, isFile: false, isCharDevice: true };
      }
      return s;
    } catch {
      return undefined;
    }
  }

  async listDir(path: string): Promise<string[] | undefined> {
    try {
      return await fsAsync().readdir(this.resolve(path));
    } catch {
      return undefined;
    }
  }

  async freeBytes(path: string): Promise<number | undefined> {
    const free = (await this.fixture()).freeBytes ?? {};
    let best: string | undefined;
    for (const mount of Object.keys(free)) {
      const under = path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (under && (best === undefined || mount.length > best.length)) best = mount;
    }
    return best === undefined ? undefined : free[best];
  }

  async writeFile(path: string, _content?: string | Buffer): Promise<void> {
    throw new Error(t('host.fixture.notWriting', { path }));
  }

  async appendFile(path: string, _content?: string): Promise<void> {
    throw new Error(t('host.fixture.notWriting', { path }));
  }

  async removeFile(path: string): Promise<void> {
    throw new Error(t('host.fixture.notRemoving', { path }));
  }

  /** Nothing here runs a command that could read it, and the tree is not to be written. */
  async makeTempDir(prefix: string): Promise<TempDir> {
    throw new Error(t('host.fixture.notMakingTemp', { prefix }));
  }

  /** A recorded tree has no live daemons: a socket file present there stands for one answering. */
  async socketAnswers(path: string): Promise<boolean> {
    return (await this.stat(path)) !== undefined;
  }

  canRun(): boolean {
    return false;
  }

  async run(_command: Command): Promise<RunResult> {
    return { exitCode: -1, stdout: '', stderr: t('host.fixture.runsNoCommand'), failed: true };
  }

  async processIdentity(): Promise<ProcessIdentity | undefined> {
    return (await this.fixture()).identity;
  }

  async environment(): Promise<Record<string, string | undefined>> {
    return (await this.fixture()).env ?? {};
  }
}
