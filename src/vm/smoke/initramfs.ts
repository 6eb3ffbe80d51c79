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
      user=$(sed -n 's/^ *- name: *//p' /mnt/user-data | head -n 1)
      if [ -n "$user" ] && [ -x /usr/sbin/dropbear ]; then
        echo "$user:x:1000:1000:$user:/home/$user:/bin/sh" >> /etc/passwd
        mkdir -p "/home/$user/.ssh"
        grep -E 'ssh-(rsa|ed25519)|ecdsa-' /mnt/user-data | sed 's/^ *- *//' > "/home/$user/.ssh/authorized_keys"
        chmod 700 "/home/$user/.ssh"
        chmod 600 "/home/$user/.ssh/authorized_keys"
        chown -R 1000:1000 "/home/$user"
        ssh_user=$user
      fi
    fi
    umount /mnt
  fi
done
if [ -n "$ssh_user" ]; then
  mkdir -p /dev/pts /etc/dropbear
  mount -t devpts devpts /dev/pts
  # -R: host keys made at the first connection; -s: keys only, no passwords.
  /usr/sbin/dropbear -R -s -p 22 && echo "KVMKIT-SMOKE-SSH dropbear on port 22 for $ssh_user" > /dev/console
fi
acpid -c /etc/acpi
ip link set lo up
ip link set eth0 up 2>/dev/null && udhcpc -i eth0 -s /etc/udhcpc.script -t 20 -T 1 -b -q 2>/dev/null &
# A shell on the serial console, for \`kvmkit vm console\`: whoever reaches a VM's console may
# already manage the VM, and this guest holds nothing.
(while true; do setsid -c sh </dev/ttyS0 >/dev/ttyS0 2>&1; done) &
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
export const SMOKE_MODULES = [
  'virtio_pci',
  'virtio_blk',
  'virtio_net',
  'virtio_balloon',
  'button',
  'evdev',
  'isofs',
];

/** A file of the guest's own, at its path in the initramfs (no leading slash). */
export interface GuestFile {
  path: string;
  content: string;
  mode: number;
}

/**
 * The guest's own files, the same for every smoke VM but its name: its /init, the DHCP client's
 * script, the power button's handler, and the little of /etc busybox needs. The rest (busybox,
 * the drivers, their load order) is put in on the target by make-initramfs.ts's script.
 */
export function guestFiles(hostname: string): GuestFile[] {
  return [
    { path: 'init', content: INIT, mode: 0o755 },
    { path: 'etc/hostname', content: `${hostname}\n`, mode: 0o644 },
    { path: 'etc/udhcpc.script', content: UDHCPC, mode: 0o755 },
    { path: 'etc/acpi/PWRF/00000080', content: POWER_BUTTON, mode: 0o755 },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n', mode: 0o644 },
    { path: 'etc/group', content: 'root:x:0:\n', mode: 0o644 },
    { path: 'etc/shells', content: '/bin/sh\n', mode: 0o644 },
  ];
}
