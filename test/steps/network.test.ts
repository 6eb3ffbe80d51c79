import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeSubnet, parseRoutes } from '../../src/facts/routes.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan } from '../../src/plan/plan.js';
import { materialize } from '../helpers/fixtures.js';

// /proc/net/route as the kernel writes it; eth1 carries the outer libvirt's 192.168.122.0/24.
const ROUTES = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t007AA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

describe('routes and subnets', () => {
  it('reads /proc/net/route, leaving out the default route', () => {
    expect(parseRoutes(ROUTES).map((r) => [r.iface, r.prefix])).toEqual([
      ['eth0', 24],
      ['eth1', 24],
    ]);
  });
  it('skips 192.168.122.0/24 when a route uses it', () => {
    expect(freeSubnet(parseRoutes(ROUTES))).toBe(((192 << 24) >>> 0) + (168 << 16) + (123 << 8));
  });
});

describe('the default network step', () => {
  const withRoutes = (defined: boolean) => {
    const dir = materialize('intel-vmx-ready');
    writeFileSync(join(dir, 'proc/net/route'), ROUTES);
    for (const f of ['run/libvirt/network/default.xml', 'etc/libvirt/qemu/networks/autostart/default.xml'])
      rmSync(join(dir, f));
    if (!defined) rmSync(join(dir, 'etc/libvirt/qemu/networks/default.xml'));
    return dir;
  };

  it('defines it on a free subnet when 192.168.122.0/24 is taken, and says so', async () => {
    const plan = await buildPlan(new FixtureHost(withRoutes(false)));
    const step = plan.steps.find((s) => s.id === 'default-network')!;
    expect(step.reason).toBe(
      'define it on 192.168.123.0/24 (192.168.122.0/24 is taken on this host), start it and set it to autostart',
    );
    expect(step.files?.[0]?.content).toMatch(/<ip address="192.168.123.1" netmask="255.255.255.0">/);
    expect(step.files?.[0]?.content).toMatch(/<range start="192.168.123.2" end="192.168.123.254"/);
  });

  it('moves an inactive definition whose subnet clashes', async () => {
    const plan = await buildPlan(new FixtureHost(withRoutes(true)));
    const step = plan.steps.find((s) => s.id === 'default-network')!;
    expect(step.reason).toMatch(
      /its subnet 192.168.122.0\/24 is already used on eth1: move it to 192.168.123.0\/24/,
    );
    expect(step.commands.map((c) => c.argv.slice(3).join(' '))).toEqual([
      'net-undefine default',
      'net-define /var/lib/kvmkit/networks/default.xml',
      'net-start default',
      'net-autostart default',
    ]);
  });
});
