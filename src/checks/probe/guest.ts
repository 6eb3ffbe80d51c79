/**
 * The acceleration probe guest: longmode-guest.asm assembled with nasm (512 bytes, a boot sector).
 * Embedded so kvmkit builds the guest itself with no download and no assembler on the user's
 * host; test/checks/probe/guest.test.ts reassembles the source and checks these bytes match it.
 */
const GUEST_HEX = [
  'fa31c08ed88ec08ed0bc007cbe8a7de85e00bf0010b9001831c0f3ab66c70600',
  '100320000066c70600200330000066c7060030830000000f0116307d0f20e066',
  '83c8200f22e066b8001000000f22d866b9800000c00f32660d000100000f300f',
  '20c0660d010000800f22c0ea7c7c0800baf803ac84c07403eeebf8c366b81000',
  '8ed88ec08ed0bc007c000048bea37d000000000000e85b000000b9800000c00f',
  '3248c1e2204809d04889c3b91000000048c1c30488d8240f04303c3976020407',
  '66baf803eee2e948bec07d000000000000e81f0000000f011c25807d0000cc48',
  'bee17d000000000000e807000000b021e6f4f4ebfd66baf803ac84c07403eeeb',
  'f8c348bec37d000000000000e8e4ffffff48cf90909090900000000000000000',
  'ffff0000009aaf00ffff00000092cf001700187d000090909090909090909090',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '00000000000000000000000000000000027d0800008e00000000000000000000',
  '3f00407d0000000000004b564d4b49542d50524f4245207265616c2d6d6f6465',
  '0d0a004b564d4b49542d50524f4245206c6f6e672d6d6f646520656665723d00',
  '0d0a004b564d4b49542d50524f424520657863657074696f6e20696e74330d0a',
  '004b564d4b49542d50524f424520646f6e650d0a0000000000000000000055aa',
].join('');

export function probeGuestImage(): Buffer {
  return Buffer.from(GUEST_HEX, 'hex');
}

/** The lines the guest prints on COM1, in order, one per stage it reaches. */
export const PROBE_STAGES = [
  { stage: 'real-mode', marker: 'KVMKIT-PROBE real-mode' },
  { stage: 'long-mode', marker: 'KVMKIT-PROBE long-mode' },
  { stage: 'exception', marker: 'KVMKIT-PROBE exception int3' },
  { stage: 'done', marker: 'KVMKIT-PROBE done' },
] as const;

export type ProbeStage = (typeof PROBE_STAGES)[number]['stage'];

/** QEMU's exit status when the guest writes 0x21 to isa-debug-exit: (0x21 << 1) | 1. */
export const PROBE_EXIT_STATUS = 67;
