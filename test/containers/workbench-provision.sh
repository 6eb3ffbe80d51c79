#!/bin/sh
# Runs once inside the workbench image while mmdebstrap builds it (never on the machine that runs
# the tests): the system packages the machine tests use. The workbench is a throwaway Debian 12
# container where those tests run as root, purging and reinstalling libvirt, adding users and
# starting daemons as they please; its .debs stay in the image so they reinstall with no network.
set -eu
export DEBIAN_FRONTEND=noninteractive
# qemu-system-x86: the acceleration probe and guests; nasm: the probe guest is checked against its
# source; sudo: the elevation tests; tmux: the guided installer is driven on a real terminal;
# python3: holds the dpkg lock in a test; busybox-static, cpio: the smoke VM's initramfs;
# genisoimage, openssh-client: the cloud-init seed and its key; gnupg, gpgv: checksum list
# signatures; ovmf, swtpm: --uefi and --tpm VMs booted for real; dropbear-bin: the smoke VM's SSH
# server; libvirt and the rest of the server profile: the install tests purge and reinstall them
# from apt's cache, inside a network namespace without a route out.
apt-get install -y -q -o APT::Install-Recommends=true \
  qemu-system-x86 qemu-utils nasm sudo tmux python3 iproute2 busybox-static cpio genisoimage openssh-client gnupg gpgv ovmf swtpm swtpm-tools dropbear-bin \
  libvirt-daemon-system libvirt-clients virtinst bridge-utils cpu-checker dnsmasq-base
# openssh-server: the sshd the qemu+ssh tests connect through (on 127.0.0.1 only); ifupdown,
# isc-dhcp-client, netplan.io, iputils-ping: the bridge tests' ifupdown hosts in namespaces.
apt-get install -y -q -o APT::Install-Recommends=true openssh-server ifupdown isc-dhcp-client netplan.io iputils-ping procps psmisc
# network-manager: a test host's manager inside a namespace; chromium: the readiness page in a
# real headless browser; cloud-init: `cloud-init schema` validates the exported user-data.
apt-get install -y -q --no-install-recommends network-manager chromium cloud-init
# vagrant: `vagrant validate` of the Vagrantfile; debootstrap: a minimal Debian with no Node for
# the single executable; ansible (+ python3-libvirt, python3-lxml): the exported playbook runs.
apt-get install -y -q --no-install-recommends vagrant vagrant-libvirt debootstrap ansible python3-libvirt python3-lxml
# The .debs of what the tests purge, in apt's cache even where installed above (libosinfo-bin:
# an ISO first VM's, which the exported playbook installs from a removed state).
apt-get install -y -q --reinstall --download-only \
  qemu-system-x86 libvirt-daemon-system libvirt-clients virtinst bridge-utils cpu-checker msr-tools \
  libvirt-daemon libvirt-daemon-config-network libvirt-daemon-config-nwfilter libosinfo-bin
