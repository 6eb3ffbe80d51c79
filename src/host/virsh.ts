import { t } from '../lib/i18n.js';
import type { Command, Host, RunResult } from './host.js';
import { classifyVirshError, closeNames, LibvirtError } from './vm-errors.js';

/**
 * The door to libvirt on a host: virsh's argv is written here and nowhere else, whether a plan
 * carries the command as data (`virshCommand`) or kvmkit runs it now (`Virsh`).
 */

/** Where kvmkit talks to libvirt unless told otherwise: the system instance, like virt-manager. */
export const DEFAULT_URI = 'qemu:///system';

/**
 * The libvirt URI: --connect, then KVMKIT_CONNECT, then LIBVIRT_DEFAULT_URI (virsh's own
 * variable), then qemu:///system. Remote URIs (qemu+ssh://user@host/system) go through virsh's
 * own ssh transport.
 */
export function connectionUri(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.KVMKIT_CONNECT || env.LIBVIRT_DEFAULT_URI || DEFAULT_URI;
}

/** A libvirt URI as virsh accepts it: driver[+transport]://[user@][host[:port]]/path[?params]. */
export function checkUri(uri: string): string | undefined {
  if (!/^[a-z][a-z0-9]*(\+[a-z0-9]+)?:\/\/[^\s]*\/[a-z]*(\?[^\s]*)?$/.test(uri))
    return t('host.virsh.notUri', { uri });
  return undefined;
}

/** How a virsh command runs: its connection (default DEFAULT_URI), and anything else a Command takes. */
export type VirshCommandOptions = Omit<Command, 'argv'> & { uri?: string; quiet?: boolean };

/**
 * `virsh [--quiet] --connect URI ARGS…` as a Command, to run now or to put into a plan as data.
 * The options after `uri` and `quiet` are the Command's own, in the order given.
 */
export function virshCommand(args: readonly string[], options: VirshCommandOptions = {}): Command {
  const { uri = DEFAULT_URI, quiet = false, ...command } = options;
  return { argv: ['virsh', ...(quiet ? ['--quiet'] : []), '--connect', uri, ...args], ...command };
}

/** One section of a batched virsh run: what one command printed, and whether it printed at all. */
export interface ScriptResult {
  output: string;
}

const SEPARATOR = 'KVMKIT-SECTION-END';
/** Words virsh's own command-line parser takes as they are (a script line is parsed by virsh). */
const PLAIN_WORD = /^[A-Za-z0-9_.:/=,@+-]+$/;

/**
 * virsh as kvmkit drives it: argv arrays only (a VM name is one argv element, whatever it
 * holds), the connection URI on every call. `run` and `script` turn failures into LibvirtError
 * with a next step; `exec` hands back virsh's result as it is, for callers that judge it.
 * Runs as the invoking user (on qemu:///system that is what the libvirt group is for), or
 * through sudo with `root` (the installer and `kvmkit vm create`).
 */
export class Virsh {
  constructor(
    readonly host: Host,
    readonly uri: string = DEFAULT_URI,
    readonly options: { root?: boolean } = {},
  ) {}

  /** virsh through sudo on `uri`: the installer's and `kvmkit vm create`'s. */
  static asRoot(host: Host, uri: string = DEFAULT_URI): Virsh {
    return new Virsh(host, uri, { root: true });
  }

  /** This virsh's command for `args`: its connection, root if this Virsh is, and `extra`. */
  command(args: readonly string[], extra: Omit<VirshCommandOptions, 'uri'> = {}): Command {
    return virshCommand(args, {
      uri: this.uri,
      ...(this.options.root ? { root: true } : {}),
      ...extra,
    });
  }

  /** Runs `virsh --connect URI ARGS…` and returns its result as it is (no --quiet, no mapping). */
  exec(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
    return this.host.run(this.command(args, options));
  }

  /** Runs one virsh command; its stdout, or a LibvirtError. `vm` names the VM for messages. */
  async run(
    args: string[],
    options: { vm?: string; timeoutMs?: number; input?: string } = {},
  ): Promise<string> {
    const result = await this.host.run(
      this.command(args, {
        quiet: true,
        timeoutMs: options.timeoutMs ?? 120_000,
        ...(options.input !== undefined ? { input: options.input } : {}),
      }),
    );
    if (result.failed && result.exitCode !== 1 && !result.stderr)
      throw new LibvirtError('refused', t('host.virsh.couldNotRun'), t('host.virsh.couldNotRunHint'));
    if (result.exitCode !== 0) {
      const error = classifyVirshError(result.stderr, { vm: options.vm, uri: this.uri });
      if (error.kind === 'not-found' && options.vm) return this.notFound(options.vm, error);
      throw error;
    }
    return result.stdout;
  }

  /** A not-found error that suggests the VMs with close names. */
  private async notFound(vm: string, error: LibvirtError): Promise<never> {
    const names = await this.names().catch(() => []);
    const close = closeNames(vm, names);
    throw new LibvirtError(
      'not-found',
      error.message,
      close.length > 0 ? t('host.virsh.didYouMean', { names: close.join(', ') }) : t('host.virsh.listHint'),
      error.detail,
    );
  }

  /** The names of all VMs, running or not. */
  async names(): Promise<string[]> {
    return (await this.run(['list', '--all', '--name'])).split('\n').filter((n) => n !== '');
  }

  /**
   * Several virsh commands in one process (virsh reads them from stdin), so work over N VMs
   * costs one process, not N. Only plain words go into a script (UUIDs, numbers, options),
   * never a VM name: virsh parses script lines itself.
   */
  async script(commands: string[][]): Promise<ScriptResult[]> {
    if (commands.length === 0) return [];
    for (const word of commands.flat()) {
      if (!PLAIN_WORD.test(word))
        // i18n: machine (a caller's bug: only ids and options go into a script)
        throw new Error(`not a plain word for a virsh script: ${JSON.stringify(word)}`);
    }
    const input = `${commands.map((c) => `${c.join(' ')}\necho ${SEPARATOR}`).join('\n')}\nquit\n`;
    const result = await this.host.run(this.command([], { quiet: true, input, timeoutMs: 300_000 }));
    if (result.exitCode !== 0 && !result.stdout.includes(SEPARATOR))
      throw classifyVirshError(result.stderr, { uri: this.uri });
    const sections = result.stdout.split(`${SEPARATOR}\n`);
    return commands.map((_, i) => ({ output: sections[i] ?? '' }));
  }
}
