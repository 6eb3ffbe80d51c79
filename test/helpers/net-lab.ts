import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN, TOP } from './cli.js';

export const NET_HARNESS = join(TOP, 'test/harness/net-host-ns.sh');

/**
 * A test host and its LAN, built from network namespaces and never touching the machine's own
 * network: the host namespace has `eth0` (one end of a veth pair), the gateway namespace the
 * other end with 198.51.100.1/24, dnsmasq for DHCP (198.51.100.50–99) and DNS (gateway.test).
 * The host's network files are private to the lab (test/harness/net-host-ns.sh).
 */
export class NetLab {
  readonly host: string;
  readonly gw: string;
  readonly root: string;
  private dnsmasq?: ChildProcess;

  /**
   * `hostNamespace`: an existing namespace to be the test host (libvirt's, for VMs on the
   * bridge), with `uplink` as the name of its end of the veth; it is left in place afterwards.
   */
  constructor(
    readonly tag: string,
    readonly options: { hostNamespace?: string; uplink?: string } = {},
  ) {
    this.host = options.hostNamespace ?? `kvmkit-${tag}-h`;
    this.gw = `kvmkit-${tag}-g`;
    this.root = mkdtempSync(join(tmpdir(), `kvmkit-lab-${tag}-`));
  }

  /** The host's uplink configured by ifupdown, static or by DHCP, and brought up with ifup. */
  async start(addressing: 'static' | 'dhcp', mac = '52:54:00:12:34:56'): Promise<void> {
    this.destroy();
    const uplink = this.options.uplink ?? 'eth0';
    for (const ns of this.options.hostNamespace ? [this.gw] : [this.host, this.gw])
      execFileSync('ip', ['netns', 'add', ns]);
    this.addVeth(uplink, mac, this.host);
    this.startGateway();
    writeFileSync(join(this.root, 'resolv.conf'), 'nameserver 198.51.100.1\n');
    const interfaces =
      addressing === 'static'
        ? `auto ${uplink}\niface ${uplink} inet static\n    address 198.51.100.10/24\n    gateway 198.51.100.1\n\nsource /etc/network/interfaces.d/*\n`
        : `auto ${uplink}\niface ${uplink} inet dhcp\n\nsource /etc/network/interfaces.d/*\n`;
    // The machine's ifupdown hooks (bridge-utils' bridge_ports among them), with the lab's own files.
    execFileSync('mkdir', ['-p', join(this.root, 'etc-network')]);
    execFileSync('cp', ['-a', '/etc/network/.', join(this.root, 'etc-network/')]);
    execFileSync('rm', ['-rf', join(this.root, 'etc-network/interfaces.d')]);
    execFileSync('mkdir', ['-p', join(this.root, 'etc-network/interfaces.d')]);
    writeFileSync(join(this.root, 'etc-network/interfaces'), interfaces);
    const up = await this.run(['ifup', uplink]);
    if (up.exitCode !== 0) throw new Error(`ifup ${uplink} failed in the lab: ${up.stderr}`);
  }

  /** The veth pair: `uplink` (with `mac`) made in namespace `where`, its peer gw0 in the gateway's. */
  protected addVeth(uplink: string, mac: string, where: string): void {
    execFileSync('ip', [
      'link',
      'add',
      uplink,
      'netns',
      where,
      'address',
      mac,
      'type',
      'veth',
      'peer',
      'name',
      'gw0',
      'netns',
      this.gw,
    ]);
  }

  /** The gateway's side: 198.51.100.1/24 on gw0, and dnsmasq for DHCP and DNS. */
  protected startGateway(): void {
    const gw = (...args: string[]) => execFileSync('ip', ['netns', 'exec', this.gw, ...args]);
    gw('ip', 'link', 'set', 'lo', 'up');
    gw('ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'gw0');
    gw('ip', 'link', 'set', 'gw0', 'up');
    execFileSync('ip', ['netns', 'exec', this.host, 'ip', 'link', 'set', 'lo', 'up']);
    this.dnsmasq = spawn(
      'ip',
      [
        ...['netns', 'exec', this.gw, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null'],
        ...['--interface=gw0', '--bind-interfaces', '--except-interface=lo', '--no-resolv', '--no-hosts'],
        ...['--dhcp-range=198.51.100.50,198.51.100.99,1h', `--dhcp-leasefile=${join(this.root, 'leases')}`],
        ...[
          '--address=/gateway.test/198.51.100.1',
          `--pid-file=${join(this.root, 'dnsmasq.pid')}`,
          '--user=root',
        ],
      ],
      { stdio: 'ignore' },
    );
  }

  /** A command on the test host (its namespace, its private network files). */
  async run(argv: string[], env: Record<string, string> = {}) {
    const result = await execa(NET_HARNESS, [this.host, this.root, ...argv], {
      reject: false,
      env: { NO_COLOR: '1', ...(this.options.hostNamespace ? { KVMKIT_LAB_LIBVIRT: 'shared' } : {}), ...env },
      stdin: 'ignore',
      timeout: 300_000,
    });
    return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
  }

  kvmkit(args: string[]) {
    return this.run([BIN, ...args]);
  }

  /** The test host's IPv4 addresses by interface, as `ip` sees them. */
  addresses(): Record<string, string[]> {
    const out = spawnSync('ip', ['netns', 'exec', this.host, 'ip', '-j', '-4', 'addr', 'show'], {
      encoding: 'utf8',
    }).stdout;
    const links = JSON.parse(out || '[]') as {
      ifname: string;
      addr_info: { local: string; prefixlen: number }[];
    }[];
    return Object.fromEntries(
      links.map((l) => [l.ifname, l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)]),
    );
  }

  /** Whether the gateway answers from the test host (the real check, not kvmkit's). */
  reachesGateway(): boolean {
    return (
      spawnSync('ip', ['netns', 'exec', this.host, 'ping', '-n', '-c', '1', '-W', '2', '198.51.100.1'])
        .status === 0
    );
  }

  file(relative: string): string | undefined {
    try {
      return readFileSync(join(this.root, relative), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Everything the lab started, stopped; both namespaces deleted. */
  destroy(): void {
    this.dnsmasq?.kill();
    // Deleting the gateway's namespace takes the veth pair with it, also from a kept host namespace.
    for (const ns of this.options.hostNamespace ? [this.gw] : [this.host, this.gw]) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean);
      if (pids.length > 0) spawnSync('kill', ['-9', ...pids]);
      spawnSync('ip', ['netns', 'delete', ns]);
    }
  }
}

/**
 * A test host whose network NetworkManager manages for real (test/harness/nm-host-ns.sh): the
 * same LAN as NetLab, the uplink a NetworkManager profile ("uplink") with a static address.
 */
export class NmLab extends NetLab {
  private nm?: ChildProcess;

  async startNm(mac = '52:54:00:12:34:57'): Promise<void> {
    this.destroy();
    execFileSync('ip', ['netns', 'add', this.host]);
    execFileSync('ip', ['netns', 'add', this.gw]);
    execFileSync('mkdir', ['-p', join(this.root, 'etc-nm')]);
    execFileSync('cp', ['-a', '/etc/NetworkManager/.', join(this.root, 'etc-nm/')]);
    execFileSync('mkdir', [
      '-p',
      join(this.root, 'etc-nm/conf.d'),
      join(this.root, 'etc-nm/system-connections'),
    ]);
    // NetworkManager's own udev rules leave veth devices unmanaged; the lab manages its uplink,
    // makes no automatic profiles, and never touches resolv.conf.
    writeFileSync(
      join(this.root, 'etc-nm/conf.d/90-kvmkit-lab.conf'),
      '[main]\ndns=none\nrc-manager=unmanaged\nno-auto-default=*\n\n[device-kvmkit-lab]\nmatch-device=driver:veth\nmanaged=1\n',
    );
    writeFileSync(join(this.root, 'resolv.conf'), 'nameserver 198.51.100.1\n');
    this.nm = spawn(join(TOP, 'test/harness/nm-host-ns.sh'), [this.host, this.root], { stdio: 'ignore' });
    await until(
      () => spawnSync('nmcli', ['-t', 'general', 'status'], { encoding: 'utf8' }).status === 0,
      30_000,
      'NetworkManager',
    );
    // The uplink appears only now, so the namespace's udevd sees it arrive.
    this.addVeth('eth0', mac, this.gw);
    execFileSync('ip', ['netns', 'exec', this.gw, 'ip', 'link', 'set', 'eth0', 'netns', this.host]);
    this.startGateway();
    await until(
      () =>
        /^eth0:(disconnected|connected|unavailable)/m.test(
          spawnSync('nmcli', ['-t', '-f', 'DEVICE,STATE', 'device'], { encoding: 'utf8' }).stdout,
        ),
      30_000,
      'NetworkManager to manage eth0',
    );
    const nmcli = (...args: string[]) => execFileSync('nmcli', args, { encoding: 'utf8' });
    nmcli(
      'connection',
      'add',
      'type',
      'ethernet',
      'ifname',
      'eth0',
      'con-name',
      'uplink',
      'ipv4.method',
      'manual',
      'ipv4.addresses',
      '198.51.100.10/24',
      'ipv4.gateway',
      '198.51.100.1',
      'ipv4.dns',
      '198.51.100.1',
      'ipv6.method',
      'disabled',
    );
    nmcli('connection', 'up', 'uplink');
  }

  override destroy(): void {
    this.nm?.kill();
    super.destroy();
  }
}

async function until(test: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
