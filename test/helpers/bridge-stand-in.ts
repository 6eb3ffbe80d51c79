import type { BridgeChange } from '../../src/bridge/change.js';
import type { Command, FileStat, Host, RunResult } from '../../src/host/host.js';
import { type Asker, Executor, type InstallEvent, type StepOutcome } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import {
  applyPlanned,
  type PlannedAction,
  planned,
  plannedActions,
  type Step,
} from '../../src/steps/step.js';

// A host for the bridge's unit tests (no network, no root), shared by bridge-rollback and
// bridge-interrupt: files in memory, the uplink's address where the commands put it.

export const cmd = (...argv: string[]): Command => ({ argv, root: true });

/** A host0 with 198.51.100.2/30 and the default route, moved onto br0 by `up`, back by `undoUp`. */
export function sampleChange(): BridgeChange {
  return {
    bridge: 'br0',
    uplink: 'host0',
    system: 'ifupdown',
    addressing: {
      dhcp: false,
      addresses: ['198.51.100.2/30'],
      gateway: '198.51.100.1',
      dns: [],
      mtu: 1500,
      mac: '02:00:00:00:00:02',
    },
    held: ['198.51.100.2/30'],
    files: [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: 'auto br0\n', mode: 0o644 }],
    down: [cmd('ifdown', '--force', 'host0')],
    up: [cmd('ifup', 'host0'), cmd('ifup', 'br0')],
    undoDown: [cmd('ifdown', '--force', 'br0')],
    undoUp: [cmd('ifup', 'host0')],
  };
}

export type Where = 'uplink' | 'bridge' | 'nowhere';

/**
 * Files in memory; `ip -j` answers from where the address is; every command recorded in order,
 * file writes and removals too (as "write PATH" / "remove PATH").
 */
export class StandIn implements Host {
  readonly kind = 'real' as const;
  readonly description = 'a stand-in';
  readonly label = 'a stand-in';
  files = new Map<string, { content: string; mode: number }>();
  log: string[] = [];
  where: Where = 'uplink';
  /** What the restore script does when run (as the real one would, or nothing). */
  scriptRestores = true;
  onRun?: (argv: readonly string[]) => RunResult | undefined;

  async readFile(path: string) {
    return this.files.get(path)?.content;
  }
  async readBinary() {
    return undefined;
  }
  async readBytes() {
    return undefined;
  }
  async stat(path: string): Promise<FileStat | undefined> {
    const file = this.files.get(path);
    if (!file) return undefined;
    return {
      mode: file.mode,
      uid: 0,
      gid: 0,
      size: file.content.length,
      ino: 1,
      mtimeMs: 0,
      isFile: true,
      isDirectory: false,
      isCharDevice: false,
    };
  }
  async listDir() {
    return undefined;
  }
  async freeBytes() {
    return undefined;
  }
  async writeFile(path: string, content: string | Buffer, mode = 0o644) {
    this.log.push(`write ${path}`);
    this.files.set(path, { content: String(content), mode });
  }
  async appendFile() {}
  async removeFile(path: string) {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
  }
  async makeTempDir(prefix: string) {
    const path = `/tmp/${prefix}stand-in`;
    this.log.push(`mktemp ${path}`);
    return {
      path,
      remove: async () => {
        this.log.push(`remove ${path}`);
        for (const file of this.files.keys()) if (file.startsWith(`${path}/`)) this.files.delete(file);
      },
    };
  }
  async socketAnswers() {
    return false;
  }
  canRun() {
    return true;
  }
  async processIdentity() {
    return { uid: 0, gid: 0, groups: [], pid: 1 };
  }
  async environment() {
    return {};
  }

  private ok(stdout = ''): RunResult {
    return { exitCode: 0, stdout, stderr: '', failed: false };
  }

  async run(command: Command): Promise<RunResult> {
    const argv = command.argv;
    const line = argv.join(' ');
    const reading = argv[0] === 'ip' && argv.includes('show');
    if (!reading && argv[0] !== 'ping') this.log.push(`$ ${line}`);
    const answer = this.onRun?.(argv);
    if (answer) return answer;
    const carrier = this.where === 'uplink' ? 'host0' : this.where === 'bridge' ? 'br0' : undefined;
    const inet = [{ family: 'inet', local: '198.51.100.2', prefixlen: 30, scope: 'global' }];
    // `ip -o` and `ip route show` lines, as the planned checks (waits) read them.
    if (reading && argv[1] === '-o' && argv[2] === 'addr') {
      const dev = argv[5];
      return this.ok(
        dev === carrier
          ? `5: ${dev}    inet 198.51.100.2/30 brd 198.51.100.3 scope global ${dev}       valid_lft forever\n`
          : '',
      );
    }
    if (reading && argv[1] === '-o' && argv[2] === 'link') {
      const dev = argv[5];
      if (dev === 'br0' && this.where !== 'bridge')
        return { exitCode: 1, stdout: '', stderr: 'Device "br0" does not exist.', failed: false };
      const master = dev === 'host0' && this.where === 'bridge' ? 'master br0 ' : '';
      return this.ok(`2: ${dev}: <UP> mtu 1500 qdisc noqueue ${master}state UP mode DEFAULT\n`);
    }
    if (reading && !argv.includes('-j') && argv.includes('route'))
      return this.ok(
        argv.includes('-4') && carrier ? `default via 198.51.100.1 dev ${carrier} proto static \n` : '',
      );
    if (reading && argv.includes('addr') && argv.includes('dev')) {
      const dev = argv.at(-1);
      return this.ok(JSON.stringify(dev === carrier ? [{ ifname: dev, addr_info: inet }] : []));
    }
    if (reading && argv.includes('link'))
      return this.ok(
        JSON.stringify([
          { ifname: 'host0', ...(this.where === 'bridge' ? { master: 'br0' } : {}) },
          ...(this.where === 'bridge' ? [{ ifname: 'br0' }] : []),
        ]),
      );
    if (reading && argv.includes('addr'))
      return this.ok(JSON.stringify(carrier ? [{ ifname: carrier, addr_info: inet }] : []));
    if (reading && argv.includes('-4') && argv.includes('route'))
      return this.ok(
        JSON.stringify(carrier ? [{ dst: 'default', dev: carrier, gateway: '198.51.100.1' }] : []),
      );
    if (reading) return this.ok('[]');
    if (argv[0] === 'ping') return { ...this.ok(), exitCode: this.where === 'nowhere' ? 1 : 0 };
    if (line === 'ifup br0') this.where = 'bridge';
    if (line === 'ifup host0' && this.where !== 'bridge') this.where = 'uplink';
    if (argv[0] === '/bin/sh' && argv[1] === '/var/lib/kvmkit/bridge-restore.sh' && this.scriptRestores) {
      this.where = 'uplink';
      this.files.set('/var/lib/kvmkit/bridge-rolled-back', { content: `now by ${argv[2]}\n`, mode: 0o600 });
    }
    // kvmkit's own files, removed as the planned cleanups remove them.
    if (argv[0] === 'rm') for (const path of argv.filter((a) => a.startsWith('/'))) this.files.delete(path);
    if (argv[0] === 'systemd-run') return this.ok();
    if (argv.includes('-c') && argv.includes('kvmkit-bridge-watchdog')) {
      // The watchdog writes its pid (its process group's) for the disarm.
      this.files.set(argv.at(-1)!, { content: '4242\n', mode: 0o644 });
      return { ...this.ok(), pid: 4243 };
    }
    return this.ok();
  }
}

/**
 * Carries out `actions` on a host (a stand-in here, or a test host of its own) as the executor does a step's (shown, journaled, the
 * on-failure handlers run), then plans the step done. `asker` answers a planned "keep it?".
 */
export async function carryOut(
  host: Host,
  actions: PlannedAction[],
  o: { asker?: Asker; events?: InstallEvent[] } = {},
): Promise<StepOutcome> {
  // The executor plans each step with the host's facts: a Debian 12 (another host has its own).
  if (host instanceof StandIn)
    host.files.set('/etc/os-release', {
      content: 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nNAME="Debian GNU/Linux"\n',
      mode: 0o644,
    });
  let done = false;
  const step: Step = {
    id: 'bridge',
    title: 'Bridge',
    async plan() {
      return done ? planned(this, 'ok', 'done') : plannedActions(this, 'change', 'the change', actions);
    },
    async apply(context, plannedStep) {
      try {
        await applyPlanned(context, plannedStep);
      } finally {
        done = true;
      }
    },
  };
  const journal = new Journal(host, '/var/lib/kvmkit/journal.jsonl');
  return new Executor(host, {}, journal, (e) => o.events?.push(e), undefined, o.asker).runStep(step);
}
