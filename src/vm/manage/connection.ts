/** Where `kvmkit vm` talks to libvirt unless told otherwise: the system instance, like virt-manager. */
export const DEFAULT_URI = 'qemu:///system';

/**
 * The libvirt URI: --connect, then KVMKIT_CONNECT, then LIBVIRT_DEFAULT_URI (virsh's own
 * variable), then qemu:///system. Remote URIs (qemu+ssh://user@host/system) go through virsh's
 * own ssh transport.
 */
export function connectionUri(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.KVMKIT_CONNECT || env.LIBVIRT_DEFAULT_URI || DEFAULT_URI;
}

/** A libvirt URI as virsh accepts it: driver[+transport]://[user@][host[:port]]/path[?params]. */
export function checkUri(uri: string): string | undefined {
  if (!/^[a-z][a-z0-9]*(\+[a-z0-9]+)?:\/\/[^\s]*\/[a-z]*(\?[^\s]*)?$/.test(uri))
    return `"${uri}" is not a libvirt URI`;
  return undefined;
}
