/** The official cloud images kvmkit knows by name, with where their checksum lists are. */
export const CLOUD_IMAGES: Record<
  string,
  { url: string; checksums: string; algorithm: 'sha256' | 'sha512' }
> = {
  'ubuntu-24.04': {
    url: 'https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img',
    checksums: 'https://cloud-images.ubuntu.com/releases/24.04/release/SHA256SUMS',
    algorithm: 'sha256',
  },
  'ubuntu-22.04': {
    url: 'https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.img',
    checksums: 'https://cloud-images.ubuntu.com/releases/22.04/release/SHA256SUMS',
    algorithm: 'sha256',
  },
  'debian-12': {
    url: 'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2',
    checksums: 'https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS',
    algorithm: 'sha512',
  },
  'debian-13': {
    url: 'https://cloud.debian.org/images/cloud/trixie/latest/debian-13-generic-amd64.qcow2',
    checksums: 'https://cloud.debian.org/images/cloud/trixie/latest/SHA512SUMS',
    algorithm: 'sha512',
  },
};
