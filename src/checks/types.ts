export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export type CheckGroup = 'hardware' | 'kvm' | 'system' | 'packages' | 'access' | 'libvirt' | 'resources';

export interface CheckResult {
  id: string;
  group: CheckGroup;
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** What to do about it, when there is something to do. */
  hint?: string;
  /** The lines the verdict rests on (probe output, MSR values, log lines). */
  evidence?: string[];
  /**
   * A failing blocking check makes the host not ready (the installer has work left, or no VM can
   * run). Hardware problems do not block: VMs still run under emulation, slowly.
   */
  blocking: boolean;
}

export const check = (
  id: string,
  group: CheckGroup,
  status: CheckStatus,
  summary: string,
  extra: { hint?: string; evidence?: string[]; blocking?: boolean } = {},
): CheckResult => ({ id, group, status, summary, blocking: extra.blocking ?? false, ...extra });
