#!/bin/sh
# Test harness, not product behaviour: runs a command (and every daemon it starts) where /dev/kvm
# does not exist and inside the given network namespace. Here /dev/kvm belongs to kvm_pvm, which
# QEMU cannot use, and while it is visible libvirtd re-probes QEMU on every define (1-2 minutes);
# a private /dev without it is also a faithful "host without KVM". The network namespace keeps
# libvirt's virbr0, dnsmasq and NAT rules off the machine's own network.
#
# Usage: kvm-hidden-ns.sh NETNS COMMAND [ARG...]   (as root; the namespace is created if needed)
set -eu
ns=$1
shift
# Two harness calls at once may both find the namespace missing, and `ip netns add` fails on one
# that exists: the check and the add hold a lock on this script.
flock "$0" sh -c 'ip netns list 2>/dev/null | grep -qw "$1" || ip netns add "$1"' add-netns "$ns"
exec ip netns exec "$ns" unshare --mount --propagation private sh -eu -c '
  ip link set lo up
  dev=$(mktemp -d /tmp/kvmkit-dev.XXXXXX)
  mount -t tmpfs -o mode=755 tmpfs "$dev"
  for f in /dev/*; do
    case ${f#/dev/} in kvm|pts|shm|mqueue|hugepages|ptmx) continue ;; esac
    cp -a "$f" "$dev/"
  done
  mount --bind "$dev" /dev
  mkdir -p /dev/pts /dev/shm
  mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
  ln -s pts/ptmx /dev/ptmx
  mount -t tmpfs tmpfs /dev/shm
  exec "$@"
' kvm-hidden-ns "$@"
