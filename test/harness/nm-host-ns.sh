#!/bin/sh
# Test harness, not product behaviour: runs NetworkManager for real as the network manager of a
# test host in network namespace NETNS (../shared/reference/test-recipes.md). NetworkManager only
# manages devices udev has initialised, and udev only hears its own namespace's uevents, so a
# udevd runs in there too, on a private /run/udev. NetworkManager's configuration, state and
# profiles live under ROOT (a copy of /etc/NetworkManager plus the lab's conf.d), never on the
# machine. Start this before the test host's veth exists; it execs NetworkManager --no-daemon.
#
# Usage: nm-host-ns.sh NETNS ROOT   (as root; the system D-Bus must be running)
set -eu
ns=$1
root=$2
exec ip netns exec "$ns" unshare --mount --propagation private sh -eu -c '
  root=$1
  mkdir -p "$root/etc-nm" "$root/var-lib-nm" "$root/run-nm" /var/lib/NetworkManager /run/NetworkManager /run/udev
  [ -e "$root/resolv.conf" ] || : > "$root/resolv.conf"
  mount -t tmpfs tmpfs /run/udev
  mount --bind "$root/etc-nm" /etc/NetworkManager
  mount --bind "$root/var-lib-nm" /var/lib/NetworkManager
  mount --bind "$root/run-nm" /run/NetworkManager
  mount --bind "$root/resolv.conf" /etc/resolv.conf
  /lib/systemd/systemd-udevd --daemon
  exec NetworkManager --no-daemon
' nm-host-ns "$root"
