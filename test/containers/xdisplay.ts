import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from './container.js';
import { until } from './scenario.js';

/**
 * A graphical program proven inside a pristine container without a desktop: an Xvfb server, the
 * program started beside it as a systemd transient unit (so it runs in the background, its output
 * goes to a file, and every process it starts stays in the unit's cgroup, ended by pid), its
 * windows read through xdotool (window titles and map state, no OCR) and a screenshot taken
 * through GDK, which virt-manager already brings (python3-gi, gir1.2-gtk-3.0): nothing more to install.
 */

/** The X display the test's Xvfb serves (no other X server runs in these containers). */
export const DISPLAY = ':99';

/** Starts argv as the transient unit `unit` (root), its stdout and stderr appended to `log` inside. */
export async function startUnit(
  box: Container,
  unit: string,
  argv: string[],
  log: string,
  env: Record<string, string> = {},
): Promise<void> {
  await box.check([
    'systemd-run',
    '--quiet',
    '--collect',
    `--unit=${unit}`,
    `--property=StandardOutput=append:${log}`,
    ...Object.entries(env).map(([name, value]) => `--setenv=${name}=${value}`),
    '--',
    ...argv,
  ]);
}

/**
 * The pids of `unit` (the container's pid namespace): its cgroup's, and those of the cgroup its
 * main process is in now, since `runuser -l` opens a logind session (pam_systemd) that moves
 * itself and what it starts into that session's scope.
 */
export async function unitPids(box: Container, unit: string): Promise<number[]> {
  const show = async (property: string) =>
    (await box.run(['systemctl', 'show', `--property=${property}`, '--value', unit])).stdout.trim();
  const groups = new Set<string>();
  const own = await show('ControlGroup');
  if (own !== '') groups.add(own);
  const main = Number(await show('MainPID'));
  if (main > 0) {
    const moved = /^0::(\S+)$/m.exec((await box.run(['cat', `/proc/${main}/cgroup`])).stdout);
    if (moved) groups.add(moved[1]!);
  }
  const pids = new Set<number>();
  for (const group of groups) {
    const procs = await box.run(['cat', `/sys/fs/cgroup${group}/cgroup.procs`]);
    for (const line of procs.stdout.split('\n')) {
      const pid = Number(line.trim());
      if (Number.isInteger(pid) && pid > 0) pids.add(pid);
    }
  }
  return [...pids];
}

/** What systemd says of `unit`, for a failure message. */
export async function unitState(box: Container, unit: string): Promise<string> {
  const show = await box.run([
    'systemctl',
    'show',
    '--property=ActiveState,SubState,MainPID,ControlGroup,ExecMainCode,ExecMainStatus',
    unit,
  ]);
  return show.stdout.trim().split('\n').join(', ');
}

/** Ends every process of `unit` by pid: SIGTERM, then SIGKILL for what is left after 10 s. */
export async function endUnit(box: Container, unit: string): Promise<void> {
  const pids = await unitPids(box, unit);
  if (pids.length === 0) return;
  await box.run(['kill', '-TERM', ...pids.map(String)]);
  try {
    await until(`${unit} to end after SIGTERM`, 10_000, async () => {
      const left = await unitPids(box, unit);
      return { done: left.length === 0, value: true, said: `pids left: ${left.join(' ')}` };
    });
  } catch {
    const left = await unitPids(box, unit);
    if (left.length > 0) await box.run(['kill', '-KILL', ...left.map(String)]);
  }
}

/** Starts Xvfb on DISPLAY as the unit `unit` and waits until it answers X requests. */
export async function startXvfb(box: Container, unit: string, log: string): Promise<void> {
  await startUnit(box, unit, ['Xvfb', DISPLAY, '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], log);
  await until(`Xvfb to answer on ${DISPLAY}`, 30_000, async () => {
    const geometry = await box.run(['xdotool', 'getdisplaygeometry'], { env: { DISPLAY } });
    return { done: geometry.exitCode === 0, value: true, said: geometry.stderr.trim() };
  });
}

export interface XWindow {
  id: string;
  name: string;
  /** Mapped and viewable (what a user sees). */
  visible: boolean;
  /** A child of the root window: with no window manager, every application window is one. */
  topLevel: boolean;
}

async function windowIds(box: Container, options: string[]): Promise<string[]> {
  // The pattern '.*' matches every window, named or not; exit 1 means none found.
  const found = await box.run(['xdotool', 'search', ...options, '--name', '.*'], { env: { DISPLAY } });
  return found.stdout.split('\n').filter((line) => /^\d+$/.test(line.trim()));
}

/** Every window on DISPLAY but the root that has a name, with its map state; unnamed visible top levels too. */
export async function windows(box: Container): Promise<XWindow[]> {
  // Depth 0 is the root window itself (xdotool's search includes it): not an application's.
  const roots = new Set(await windowIds(box, ['--maxdepth', '0']));
  const all = (await windowIds(box, [])).filter((id) => !roots.has(id));
  const visible = new Set(await windowIds(box, ['--onlyvisible']));
  const topLevel = new Set(await windowIds(box, ['--maxdepth', '1']));
  const found: XWindow[] = [];
  for (const id of all) {
    const isVisible = visible.has(id);
    const isTop = topLevel.has(id);
    const name = (await box.run(['xdotool', 'getwindowname', id], { env: { DISPLAY } })).stdout.trim();
    if (name !== '' || (isVisible && isTop)) found.push({ id, name, visible: isVisible, topLevel: isTop });
  }
  return found;
}

/** The windows as lines for a failure message. */
export function listed(found: XWindow[]): string {
  return (
    found
      .map((w) => `  ${w.id} "${w.name}"${w.visible ? ' visible' : ''}${w.topLevel ? ' top-level' : ''}`)
      .join('\n') || '  (no window)'
  );
}

/** The root window as PNG, through GDK (from virt-manager's own dependencies). */
const SCREENSHOT_SCRIPT = [
  'import sys, gi',
  "gi.require_version('Gdk', '3.0')",
  'from gi.repository import Gdk',
  'root = Gdk.get_default_root_window()',
  'shot = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())',
  "shot.savev(sys.argv[1], 'png', [], [])",
].join('\n');

/** Takes a screenshot of DISPLAY inside and keeps it as `file` in the container's log folder; its path. */
export async function screenshot(box: Container, file: string): Promise<string> {
  const inside = `/var/tmp/${file}`;
  await box.check(['python3', '-c', SCREENSHOT_SCRIPT, inside], { env: { DISPLAY } });
  const kept = join(box.logs, file);
  copyFileSync(join(box.dir, inside), kept);
  return kept;
}
