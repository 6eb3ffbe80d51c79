/**
 * The guide's 11 SPICE packages as it lists them on Mint 17.3 (../shared/reference/seed-kvm-guide.vi.md,
 * section 3.2), arch suffixes dropped, sorted.
 */
export const GUIDE_SPICE = [
  'gir1.2-spice-client-glib-2.0',
  'gir1.2-spice-client-gtk-2.0',
  'gir1.2-spice-client-gtk-3.0',
  'libspice-client-glib-2.0-8',
  'libspice-client-gtk-2.0-4',
  'libspice-client-gtk-3.0-4',
  'libspice-server1',
  'python-spice-client-gtk',
  'spice-client-glib-usb-acl-helper',
  'spice-client-gtk',
  'spice-vdagent',
];

/** What of them kvmkit plans for the host: all but spice-vdagent, a guest tool. */
export const GUIDE_SPICE_ON_HOST = GUIDE_SPICE.filter((p) => p !== 'spice-vdagent');
