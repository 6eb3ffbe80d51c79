/**
 * Names and paths every VM module shares, kept free of heavy imports so that the day-two verbs
 * (kvmkit vm …) load only what they use.
 */

/** What kvmkit itself names a VM it creates: letters, digits, ".", "_", "-"; at most 63. */
export const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Where a kvmkit-made VM's serial console is logged (the smoke VM's marker lands there). */
export const consoleLogOf = (name: string) => `/var/log/libvirt/qemu/${name}-console.log`;

/** The initramfs kvmkit writes for a smoke VM: only a smoke VM has one. */
export const smokeInitrdOf = (name: string) => `/var/lib/libvirt/boot/kvmkit-${name}-initrd.img`;

/** A VM's cloud-init NoCloud seed. */
export const seedPathOf = (name: string) => `/var/lib/libvirt/images/${name}-seed.iso`;
