import { type CpioEntry, cpioArchive } from './cpio.js';
import { loadOrder, moduleDepends } from './modules.js';

/** What the guest prints on its serial console once it is up: the smoke VM's proof of life. */
export const SMOKE_MARKER = 'KVMKIT-SMOKE-OK';

/**
 * /init of the smoke VM: mounts the basics, loads the few drivers a libvirt guest needs (virtio
 * disk and network, the ACPI power button), prints the marker, takes an address by DHCP, and
 * powers off when the power button is pressed (so `virsh shutdown` works), else waits forever.
 */
const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /mnt /var/run /var/log
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules-order); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
hostname "$(cat /etc/hostname)"
echo "${SMOKE_MARKER} kernel=$(uname -r) hostname=$(hostname)" > /dev/console
for seed in /dev/vd? /dev/sr?; do
  [ -b "$seed" ] || continue
  if mount -o ro "$seed" /mnt 2>/dev/null; then
    if [ -f /mnt/meta-data ]; then
      echo "KVMKIT-SMOKE-SEED $(grep -E '^(local-)?hostname:' /mnt/meta-data | head -n 1)" > /dev/console
      grep -E 'ssh-(rsa|ed25519)|ecdsa-' /mnt/user-data | sed 's/^ *- */KVMKIT-SMOKE-SEED key: /' > /dev/console
    fi
    umount /mnt
  fi
done
acpid -c /etc/acpi
ip link set lo up
ip link set eth0 up 2>/dev/null && udhcpc -i eth0 -s /etc/udhcpc.script -t 20 -T 1 -b -q 2>/dev/null &
while true; do sleep 3600; done
`;

const UDHCPC = `#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "\${router%% *}" dev "$interface"
    echo "KVMKIT-SMOKE-DHCP ip=$ip" > /dev/console
    ;;
esac
`;

const POWER_BUTTON = '#!/bin/sh\necho "KVMKIT-SMOKE-POWEROFF" > /dev/console\npoweroff -f\n';

/** The drivers the smoke VM loads, by module name (dependencies are added from each module). */
export const SMOKE_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'button', 'evdev', 'isofs'];

export interface InitramfsInput {
  busybox: Buffer;
  hostname: string;
  /** Module name → its .ko bytes, for the modules wanted and their dependencies. */
  modules: Map<string, Buffer>;
}

export function smokeInitramfs(input: InitramfsInput): Buffer {
  const order = loadOrder(
    SMOKE_MODULES.filter((m) => input.modules.has(m)),
    (name) => {
      const ko = input.modules.get(name);
      return ko ? moduleDepends(ko).filter((d) => input.modules.has(d)) : [];
    },
  );
  const entries: CpioEntry[] = [
    ...[
      'bin',
      'etc',
      'etc/acpi',
      'etc/acpi/PWRF',
      'lib',
      'lib/modules',
      'proc',
      'sys',
      'dev',
      'tmp',
      'mnt',
    ].map((path) => ({ type: 'dir', path }) as const),
    { type: 'file', path: 'bin/busybox', data: input.busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: Buffer.from(INIT), mode: 0o755 },
    { type: 'file', path: 'etc/hostname', data: Buffer.from(`${input.hostname}\n`) },
    { type: 'file', path: 'etc/udhcpc.script', data: Buffer.from(UDHCPC), mode: 0o755 },
    { type: 'file', path: 'etc/acpi/PWRF/00000080', data: Buffer.from(POWER_BUTTON), mode: 0o755 },
    { type: 'file', path: 'etc/modules-order', data: Buffer.from(`${order.join('\n')}\n`) },
    ...order.map(
      (name) => ({ type: 'file', path: `lib/modules/${name}.ko`, data: input.modules.get(name)! }) as const,
    ),
  ];
  return cpioArchive(entries);
}
