#!/bin/sh
# Test harness, not product behaviour: runs a command as on a test host that lives in network
# namespace NETNS, with a private view of the files a network change touches, kept under ROOT:
# /etc/network, /etc/netplan, /run/network, /etc/resolv.conf, /var/lib/dhcp and /var/lib/kvmkit;
# and an empty /run/libvirt (the machine's libvirt is not this test host's) unless
# KVMKIT_LAB_LIBVIRT=shared says the test host is libvirt's own namespace. Nothing the command
# writes there, and no address or route it changes, reaches the machine itself.
#
# Usage: net-host-ns.sh NETNS ROOT COMMAND [ARG...]   (as root; ROOT made by the test)
set -eu
ns=$1
root=$2
shift 2
exec ip netns exec "$ns" unshare --mount --propagation private sh -eu -c '
  root=$1; shift
  for d in etc-network etc-netplan run-network var-lib-dhcp var-lib-kvmkit run-libvirt; do mkdir -p "$root/$d"; done
  [ -e "$root/resolv.conf" ] || : > "$root/resolv.conf"
  mkdir -p /etc/netplan /run/network /var/lib/dhcp /var/lib/kvmkit /run/libvirt
  mount --bind "$root/etc-network" /etc/network
  mount --bind "$root/etc-netplan" /etc/netplan
  mount --bind "$root/run-network" /run/network
  mount --bind "$root/var-lib-dhcp" /var/lib/dhcp
  mount --bind "$root/var-lib-kvmkit" /var/lib/kvmkit
  [ "${KVMKIT_LAB_LIBVIRT:-}" = shared ] || mount --bind "$root/run-libvirt" /run/libvirt
  mount --bind "$root/resolv.conf" /etc/resolv.conf
  exec "$@"
' net-host-ns "$root" "$@"
