import { fstatSync, writeSync } from 'node:fs';

/**
 * kvmkit's standard output, written without process.stdout where it can be. Making that stream
 * loads Node's stream stack (and, for a pipe, net): about 6 ms of a start that prints one answer
 * (`kvmkit doctor --json`, `vm state`), measured with farm-bench. write(2) on fd 1 says the same;
 * a descriptor that is non-blocking (EAGAIN: whoever made the pipe chose so) hands the rest to
 * the stream, which waits for it.
 */
export function writeOut(text: string): void {
  // Once the stream exists (or where it could not be put off: a test, an embedder), everything
  // goes through it, so nothing overtakes what it holds still to write.
  if (!deferred || made) {
    process.stdout.write(text);
    return;
  }
  const bytes = Buffer.from(text);
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(1, bytes, done);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') brokenPipe();
    if (code !== 'EAGAIN') throw error;
    process.stdout.write(bytes.subarray(done));
  }
}

/** process.stdout is made only when first asked for (quietOnBrokenPipe), and whether it was. */
let deferred = false;
let made = false;
let brokenPipe: () => void = () => process.exit(process.exitCode ?? 0);

/**
 * A reader that stops early (`kvmkit vm --help | head`) closes the pipe: the rest is not wanted,
 * which is no error to print a stack for; `onBrokenPipe` ends kvmkit as `head` expects of a
 * writer. Said of process.stdout too, when it is first made (by commander, a prompt, a command
 * that writes through it), so a run that never needs it never makes it.
 */
export function quietOnBrokenPipe(onBrokenPipe: () => void): void {
  brokenPipe = onBrokenPipe;
  const original = Object.getOwnPropertyDescriptor(process, 'stdout');
  if (!original?.get || !original.configurable) {
    process.stdout.on('error', stdoutError);
    return;
  }
  const make = original.get;
  deferred = true;
  Object.defineProperty(process, 'stdout', {
    configurable: true,
    enumerable: original.enumerable,
    get() {
      const stream = make.call(process) as NodeJS.WriteStream;
      made = true;
      stream.on('error', stdoutError);
      Object.defineProperty(process, 'stdout', { ...original, get: () => stream });
      return stream;
    },
  });
}

function stdoutError(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
  brokenPipe();
}

/**
 * Whether standard output is a terminal. What is not a character device (a pipe, a file) is no
 * terminal, known without making process.stdout; a character device may be one or /dev/null,
 * which the stream tells apart.
 */
export function stdoutIsTerminal(): boolean {
  try {
    if (!fstatSync(1).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return process.stdout.isTTY === true;
}
