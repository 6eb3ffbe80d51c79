import {
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import type { RecordedDevice } from '../../src/host/fixture-host.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'hosts');

export interface Description {
  devices?: Record<string, RecordedDevice>;
  cpuid?: Record<string, string>;
  msr?: Record<string, string>;
}

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Copies a fixture tree to a temporary directory and builds what git cannot hold, from the
 * tree's fixture.json: an empty file standing for each device node (its mode and owner stay in
 * fixture.json, where FixtureHost reads them: no chown, so no root needed), and the sparse
 * /dev/cpu/0/cpuid and /dev/cpu/0/msr files with each register at its own offset (an AMD MSR
 * sits 3.2 GB in). `extra` adds to the description, for variations made by a test; it is written
 * into the copy's fixture.json, for FixtureHost to see.
 */
export function materialize(name: string, extra: Description = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `kvmkit-fixture-${name}-`));
  made.push(dir);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  let recorded: Description | undefined;
  try {
    recorded = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as Description;
  } catch {}
  const description: Description = {
    devices: { ...recorded?.devices, ...extra.devices },
    cpuid: { ...recorded?.cpuid, ...extra.cpuid },
    msr: { ...recorded?.msr, ...extra.msr },
  };
  if (Object.keys(extra).length > 0) {
    writeFileSync(join(dir, 'fixture.json'), `${JSON.stringify({ ...recorded, ...description }, null, 2)}\n`);
  }
  for (const path of Object.keys(description.devices ?? {})) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    closeSync(openSync(file, 'w'));
  }
  writeRegisters(join(dir, 'dev/cpu/0/cpuid'), description.cpuid, (hex) => Buffer.from(hex, 'hex'));
  writeRegisters(join(dir, 'dev/cpu/0/msr'), description.msr, (value) => {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(BigInt(value));
    return bytes;
  });
  return dir;
}

function writeRegisters(
  file: string,
  registers: Record<string, string> | undefined,
  encode: (v: string) => Buffer,
) {
  if (!registers || Object.keys(registers).length === 0) return;
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  try {
    for (const [offset, value] of Object.entries(registers)) {
      const bytes = encode(value);
      writeSync(fd, bytes, 0, bytes.length, Number(BigInt(offset)));
    }
  } finally {
    closeSync(fd);
  }
}
