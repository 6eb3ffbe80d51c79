import { describe, expect, it } from 'vitest';
import { inert } from '../../src/lib/shell-quote.js';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';

// `kvmkit plan --format sh` is run as root. Text from a bundle.json or an os-release (a distro
// name, a reason built from them) must never become a line of that script, and a file's content
// must never end its here-document early.

const PAYLOAD = 'touch /tmp/kvmkit-pwned';
const HOSTILE = `Debian\n${PAYLOAD}\r\n# \u001b[2K\u0000\u0085\u2028x`;

function hostilePlan(): Plan {
  return {
    distro: { id: 'debian', name: HOSTILE, version: `12\n${PAYLOAD}`, codename: `bookworm\n${PAYLOAD}` },
    profile: `server\n${PAYLOAD}`,
    steps: [
      {
        id: 'packages',
        title: `Packages\n${PAYLOAD}`,
        state: 'change',
        reason: `the bundle is for ${HOSTILE}; this host runs Debian 12`,
        commands: [{ argv: ['echo', `a; ${PAYLOAD}`] }],
        files: [{ path: '/etc/kvmkit-test', content: `line\nKVMKIT_EOF\n${PAYLOAD}\n`, mode: 0o600 }],
      },
      { id: 'blocked', title: 'Blocked', state: 'blocked', reason: `no\n${PAYLOAD}`, commands: [] },
    ],
  } as unknown as Plan;
}

/** A control character a terminal or a shell could act on (a tab is let through outside inert()). */
const control = (text: string, tab = false) =>
  [...text].some((c) => {
    const n = c.codePointAt(0)!;
    return (
      (n < 0x20 && (tab || n !== 0x09) && n !== 0x0a) ||
      (n >= 0x7f && n <= 0x9f) ||
      n === 0x2028 ||
      n === 0x2029
    );
  });

/** The script's lines outside here-documents, and each here-document's body. */
function parse(script: string) {
  const lines = script.split('\n');
  const code: string[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    code.push(line);
    const marker = /<<'([^']+)'$/.exec(line)?.[1];
    if (!marker) continue;
    const end = lines.indexOf(marker, i + 1);
    expect(end).toBeGreaterThan(i);
    bodies.push(lines.slice(i + 1, end).join('\n'));
    i = end;
  }
  return { code, bodies };
}

describe('plan --format sh with hostile text', () => {
  it('puts no text of the plan on a line of its own, nor any control character', () => {
    const { code, bodies } = parse(planAsShell(hostilePlan()));
    for (const line of code) {
      expect(line.trimStart().startsWith('touch')).toBe(false);
      expect(control(line)).toBe(false);
    }
    // The file's content arrives whole: its own "KVMKIT_EOF" line does not end the here-document.
    expect(bodies).toEqual([`line\nKVMKIT_EOF\n${PAYLOAD}`]);
  });

  it('inert() keeps printable text and makes newlines and control characters visible', () => {
    expect(inert('Debian GNU/Linux 12 (bookworm) — ünï')).toBe('Debian GNU/Linux 12 (bookworm) — ünï');
    const made = inert(HOSTILE);
    expect(control(made, true)).toBe(false);
    expect(made).not.toContain('\n');
    expect(made).toContain('\\n');
    expect(made).toContain(PAYLOAD);
  });
});
