import type { Host } from '../../host/host.js';
import { classifyVirshError, closeNames, LibvirtError } from './errors.js';

/** One section of a batched virsh run: what one command printed, and whether it printed at all. */
export interface ScriptResult {
  output: string;
}

const SEPARATOR = 'KVMKIT-SECTION-END';
/** Words virsh's own command-line parser takes as they are (a script line is parsed by virsh). */
const PLAIN_WORD = /^[A-Za-z0-9_.:/=,@+-]+$/;

/**
 * virsh as kvmkit drives it: argv arrays only (a VM name is one argv element, whatever it
 * holds), the connection URI on every call, failures turned into LibvirtError with a next step.
 * Runs as the invoking user: on qemu:///system that is what the libvirt group is for.
 */
export class Virsh {
  constructor(
    readonly host: Host,
    readonly uri: string,
  ) {}

  private argv(args: string[]): string[] {
    return ['virsh', '--quiet', '--connect', this.uri, ...args];
  }

  /** Runs one virsh command; its stdout, or a LibvirtError. `vm` names the VM for messages. */
  async run(
    args: string[],
    options: { vm?: string; timeoutMs?: number; input?: string } = {},
  ): Promise<string> {
    const result = await this.host.run({
      argv: this.argv(args),
      timeoutMs: options.timeoutMs ?? 120_000,
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
    if (result.failed && result.exitCode !== 1 && !result.stderr)
      throw new LibvirtError(
        'refused',
        'virsh could not run',
        'install libvirt-clients (kvmkit install does)',
      );
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
      close.length > 0 ? `did you mean: ${close.join(', ')}?` : 'kvmkit vm list shows the VMs there are',
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
        throw new Error(`not a plain word for a virsh script: ${JSON.stringify(word)}`);
    }
    const input = `${commands.map((c) => `${c.join(' ')}\necho ${SEPARATOR}`).join('\n')}\nquit\n`;
    const result = await this.host.run({ argv: this.argv([]), input, timeoutMs: 300_000 });
    if (result.exitCode !== 0 && !result.stdout.includes(SEPARATOR))
      throw classifyVirshError(result.stderr, { uri: this.uri });
    const sections = result.stdout.split(`${SEPARATOR}\n`);
    return commands.map((_, i) => ({ output: sections[i] ?? '' }));
  }
}
