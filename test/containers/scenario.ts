import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { bootContainer, type Container, type RunResult } from './container.js';
import type { Suite } from './images.js';
import { recordTiming } from './timings.js';

/**
 * What the container scenarios share: running kvmkit inside, reading its JSON events, and the
 * checks every profile's install must pass, read from outside kvmkit (systemctl, id, virsh as
 * the user). One copy, so every file asserts a KVM host the same way.
 */
export const MINUTE = 60_000;
export const USER = 'alice';
export const SMOKE = 'kvmkit-smoke';
export const SMOKE_CONSOLE = `/var/log/libvirt/qemu/${SMOKE}-console.log`;
/** dpkg-query's format for the status line (a dpkg field, not a template). */
export const STATUS_FORMAT = '$' + '{Status}';
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SummaryEvent {
  type: 'summary';
  ready: boolean;
  counts: Record<'ok' | 'changed' | 'failed' | 'skipped' | 'blocked', number>;
  steps: { step: string; title: string; result: string; message: string }[];
  firstVm?: { name: string; ok: boolean; reason?: string; evidence: string[] } | null;
}

/** kvmkit's --json output: one event a line; other lines skipped. */
export function events(stdout: string): { type?: string; [key: string]: unknown }[] {
  const parsed: { type?: string }[] = [];
  for (const line of stdout.split('\n')) {
    try {
      const event = JSON.parse(line) as unknown;
      if (event && typeof event === 'object') parsed.push(event as { type?: string });
    } catch {
      // Not an event line.
    }
  }
  return parsed;
}

export function summaryOf(stdout: string): SummaryEvent | undefined {
  return events(stdout)
    .reverse()
    .find((event) => event.type === 'summary') as SummaryEvent | undefined;
}

/** The steps of a summary that did something, one a line (for messages). */
export function notOk(summary: SummaryEvent | undefined): string {
  if (!summary) return '(no summary event)';
  return (
    summary.steps
      .filter((step) => step.result !== 'ok')
      .map((step) => `  ${step.step}: ${step.result}: ${step.message}`)
      .join('\n') || '  (every step ok)'
  );
}

/** A command's result for a failure message: argv, exit, time, the ends of stdout and stderr. */
export function shown(result: RunResult, lines = 60): string {
  const cut = (text: string) => text.trimEnd().split('\n').slice(-lines).join('\n');
  return (
    `$ ${result.argv.join(' ')}\nexit ${result.exitCode}${result.timedOut ? ' (timed out)' : ''} after ` +
    `${result.seconds.toFixed(0)} s\n--- stdout (last ${lines} lines)\n${cut(result.stdout)}\n--- stderr (last ${lines} lines)\n${cut(result.stderr)}`
  );
}

/** The whole result, kept in the container's log folder (it outlives the container). */
export function keep(box: Container, file: string, result: RunResult): void {
  writeFileSync(join(box.logs, file), `${shown(result, 100_000)}\n`);
}

/** The smoke VM's console log inside, last lines, for failure messages. */
export function smokeConsole(box: Container, lines = 40): string {
  try {
    const text = readFileSync(join(box.dir, SMOKE_CONSOLE), 'utf8');
    return `--- ${SMOKE_CONSOLE} (last ${lines} lines)\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
  } catch (error) {
    return `--- ${SMOKE_CONSOLE}: ${(error as Error).message}`;
  }
}

/** Polls `check` until it says done or `ms` passes; then the last thing it saw is in the error. */
export async function until<T>(
  what: string,
  ms: number,
  check: () => Promise<{ done: boolean; value: T; said: string }>,
  every = 1000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const result = await check();
    if (result.done) return result.value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms / 1000} s waiting for ${what}: ${result.said}`);
    await sleep(every);
  }
}

export function asUser(
  box: Container,
  argv: string[],
  timeout = 2 * MINUTE,
  user = USER,
): Promise<RunResult> {
  return box.run(['runuser', '-u', user, '--', ...argv], { timeout });
}

/** What libvirt's units say: enabled/active for the service or its socket. */
export async function libvirtUnits(box: Container) {
  const enabled: string[] = [];
  const active: string[] = [];
  for (const unit of ['libvirtd.service', 'libvirtd.socket']) {
    enabled.push(`${unit}: ${(await box.run(['systemctl', 'is-enabled', unit])).stdout.trim()}`);
    active.push(`${unit}: ${(await box.run(['systemctl', 'is-active', unit])).stdout.trim()}`);
  }
  return {
    enabled: enabled.some((line) => line.endsWith(': enabled')),
    active: active.some((line) => line.endsWith(': active')),
    said: `is-enabled: ${enabled.join(', ')}; is-active: ${active.join(', ')}`,
  };
}

/** The checks every profile's install must pass, read from outside kvmkit. */
export async function expectKvmHost(box: Container, user = USER): Promise<void> {
  const units = await libvirtUnits(box);
  expect.soft(units.enabled, `libvirtd (or its socket) should be enabled; ${units.said}`).toBe(true);
  expect.soft(units.active, `libvirtd (or its socket) should be active; ${units.said}`).toBe(true);
  const groups = (await box.run(['id', '-nG', user])).stdout.trim().split(/\s+/);
  expect.soft(groups, `${user} should be in libvirt; id -nG says ${groups.join(' ')}`).toContain('libvirt');
  expect.soft(groups, `${user} should be in kvm; id -nG says ${groups.join(' ')}`).toContain('kvm');
  const virsh = await asUser(box, ['virsh', '-c', 'qemu:///system', 'list', '--all'], 2 * MINUTE, user);
  expect.soft(virsh.exitCode, `virsh as ${user} should reach qemu:///system\n${shown(virsh)}`).toBe(0);
}

/** The packages of `names` that dpkg does not show installed, with what it says of each. */
export async function notInstalled(box: Container, names: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const status = await box.run(['dpkg-query', '-W', '-f', STATUS_FORMAT, name]);
    if (status.stdout !== 'install ok installed')
      missing.push(`${name} (${status.stdout || status.stderr.trim()})`);
  }
  return missing;
}

/** `kvmkit install --yes --profile P --user alice --json`, kept in `log` and timed. */
export async function install(box: Container, profile: string, log: string, timeout = 30 * MINUTE) {
  const result = await box.run(
    ['kvmkit', 'install', '--yes', '--profile', profile, '--user', USER, '--json'],
    {
      timeout,
    },
  );
  keep(box, log, result);
  recordTiming({
    what: `install --profile ${profile} (${log})`,
    suite: box.suite,
    seconds: result.seconds,
    detail: `exit ${result.exitCode}`,
  });
  return { result, summary: summaryOf(result.stdout) };
}

/** A second install must change nothing and still say ready. */
export async function expectSecondInstallChangesNothing(box: Container, profile: string): Promise<void> {
  const { result, summary } = await install(box, profile, 'install-again.log', 15 * MINUTE);
  expect.soft(result.exitCode, `the second install should exit 0\n${shown(result)}`).toBe(0);
  expect(summary, `the second install printed no summary event\n${shown(result)}`).toBeDefined();
  expect
    .soft(summary!.counts, `the second install should change nothing; steps not ok:\n${notOk(summary)}`)
    .toMatchObject({ changed: 0, failed: 0, blocked: 0 });
  expect.soft(summary!.ready, `the second install should report ready\n${shown(result)}`).toBe(true);
}

/**
 * Boots a pristine `suite` container with alice in it for a describe block, destroyed after it
 * whatever happened; `ready` runs once it is up (a snapshot, more set-up).
 */
export function containerFor(
  name: string,
  suite: Suite,
  index: number,
  ready?: (box: Container) => Promise<void>,
) {
  let box: Container | undefined;
  beforeAll(async () => {
    box = await bootContainer({ suite, name, index });
    await box.check(['useradd', '-m', USER]);
    await ready?.(box);
  }, 30 * MINUTE);
  afterAll(async () => {
    await box?.destroy();
  }, 5 * MINUTE);
  return () => {
    if (!box) throw new Error(`the ${suite} container ${name} did not boot (see beforeAll)`);
    return box;
  };
}
