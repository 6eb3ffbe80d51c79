/**
 * node:fs/promises, loaded on first use: loading it (with readline and the file watchers it
 * brings) cost every kvmkit start about 2 ms, and a doctor run, which only reads, never needs it.
 */
export const fsAsync = () => process.getBuiltinModule('node:fs/promises');
