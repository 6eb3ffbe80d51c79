import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { useLanguage } from '../../src/lib/i18n.js';
import { prompts } from '../../src/ui/prompts.js';

/** What a select prompt draws first, on a fake terminal; then it is cancelled. */
async function firstScreen(): Promise<string> {
  const { select } = await prompts();
  const input = new PassThrough();
  const output = new PassThrough();
  let drawn = '';
  output.on('data', (chunk) => {
    drawn += String(chunk);
  });
  const controller = new AbortController();
  const answer = select(
    { message: 'pick', choices: [{ value: 'a' }, { value: 'b' }] },
    { input, output, signal: controller.signal },
  );
  const deadline = Date.now() + 5_000;
  while (!/a/.test(drawn) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  controller.abort();
  await answer.catch(() => undefined);
  return drawn;
}

describe("inquirer's own key help", () => {
  afterEach(() => useLanguage('en'));

  it('speaks Vietnamese in a Vietnamese run', async () => {
    await useLanguage('vi');
    const screen = await firstScreen();
    expect(screen).toMatch(/di chuyển/);
    expect(screen).not.toMatch(/navigate/);
  });

  it("is inquirer's own in English", async () => {
    const screen = await firstScreen();
    expect(screen).toMatch(/navigate/);
  });

  it("shows a yes/no answer in the run's language", async () => {
    await useLanguage('vi');
    const { confirm } = await prompts();
    const input = new PassThrough();
    const output = new PassThrough();
    let drawn = '';
    output.on('data', (chunk) => {
      drawn += String(chunk);
    });
    const answer = confirm({ message: 'ok?', default: true }, { input, output });
    input.write('\r');
    expect(await answer).toBe(true);
    expect(drawn).toMatch(/Có/);
    expect(drawn).not.toMatch(/Yes/);
  });
});
