import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BarReporter } from '../src/progress/bar-reporter.js';
import { PlainReporter } from '../src/progress/plain-reporter.js';
import { createReporter } from '../src/progress/reporter.js';
import type { Descriptor } from '../src/store/manifest.js';
import type { PlannedBlob, PushEvent } from '../src/transfer/events.js';

const MB = 1_000_000;

function planned(hex: string, size: number, mediaType: string, stagedBytes = 0, present = false): PlannedBlob {
  return { blob: { digest: { hex: hex.repeat(64 / hex.length) }, size, mediaType }, present, toSend: present ? 0 : size - stagedBytes };
}

const plannedModel = planned('a', 40 * MB, 'application/vnd.ollama.image.model', 10 * MB);
const template = planned('b', 27, 'application/vnd.ollama.image.template', 0, true);
const model: Descriptor = plannedModel.blob;
const plan: PushEvent = { type: 'plan', blobs: [plannedModel, template], location: '/pvc/models', ollamaHome: true };

/** A stream that says it is a terminal, recording what is written. */
function fakeTerminal(): NodeJS.WriteStream & { text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string };
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  Object.assign(stream, { isTTY: true, columns: 100, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true, text: () => text });
  return stream;
}

describe('plain progress lines', () => {
  it('says where it writes, what it skips, each blob when it starts moving and when it is done, and where it resumed', () => {
    const lines: string[] = [];
    const reporter = new PlainReporter((l) => lines.push(l), 60_000);
    reporter.onEvent(plan);
    reporter.onEvent({ type: 'blob-start', blob: model, resumedFrom: 10 * MB });
    expect(lines).toEqual(['destination /pvc/models (an Ollama home: writing under models/)', '1 of 2 blobs already present (27 B), skipped']);
    reporter.onEvent({ type: 'bytes', hex: model.digest.hex, bytes: MB });
    reporter.onEvent({ type: 'bytes', hex: model.digest.hex, bytes: MB });
    reporter.onEvent({ type: 'blob-done', blob: model });
    reporter.onEvent({ type: 'model-published', model: 'm:latest', unchanged: false });
    expect(lines.slice(2)).toEqual(['sending aaaaaaaaaaaa model 40.0 MB, resumed at 25%', 'done aaaaaaaaaaaa model 40.0 MB', 'published m:latest']);
  });

  it('prints an overall line now and then while bytes move', async () => {
    const lines: string[] = [];
    const reporter = new PlainReporter((l) => lines.push(l), 50);
    reporter.onEvent(plan);
    reporter.onEvent({ type: 'blob-start', blob: model, resumedFrom: 10 * MB });
    for (let i = 0; i < 3; i++) {
      await sleep(60);
      reporter.onEvent({ type: 'bytes', hex: model.digest.hex, bytes: 5 * MB });
    }
    const overall = lines.filter((l) => l.startsWith('progress '));
    expect(overall.length).toBeGreaterThanOrEqual(2);
    expect(overall.at(-1)).toMatch(/^progress 50% 15\.0 MB\/30\.0 MB [\d.]+ [KMG]?B\/s eta [\d.]+s$/);
  });

  it('says a wait once, not at every poll, and a retry with what is left', () => {
    const lines: string[] = [];
    const reporter = new PlainReporter((l) => lines.push(l));
    reporter.onEvent(plan);
    for (let i = 0; i < 5; i++) reporter.onEvent({ type: 'blob-wait', blob: model, owner: 'laptop 42 abcd' });
    reporter.onEvent({ type: 'retry', attempt: 1, delayMs: 1000, reason: 'lost the connection to ssh homelab-1' });
    reporter.onEvent({ ...plan, blobs: [planned('a', 40 * MB, 'application/vnd.ollama.image.model', 30 * MB), template] } as PushEvent);
    expect(lines.slice(2)).toEqual([
      'waiting for aaaaaaaaaaaa: another push (laptop 42 abcd) is writing it',
      'connection problem (lost the connection to ssh homelab-1); retry 1 in 1.0s',
      'resuming: 10.0 MB left to send',
    ]);
  });
});

describe('terminal bars', () => {
  it('writes nothing (not even a hidden cursor) before the plan, and can be stopped twice', () => {
    const terminal = fakeTerminal();
    const reporter = new BarReporter(terminal);
    reporter.line('using remote path /srv (the service install)');
    reporter.stop();
    reporter.stop();
    reporter.line('after');
    expect(terminal.text()).toBe('using remote path /srv (the service install)\nafter\n');
  });

  it('draws the overall bar and a bar per moving blob, then leaves the summary below them', async () => {
    const terminal = fakeTerminal();
    const reporter = new BarReporter(terminal);
    reporter.onEvent(plan);
    reporter.onEvent({ type: 'blob-start', blob: model, resumedFrom: 10 * MB });
    reporter.onEvent({ type: 'bytes', hex: model.digest.hex, bytes: 15 * MB });
    await sleep(250);
    reporter.onEvent({ type: 'model-published', model: 'm:latest', unchanged: false });
    reporter.stop();
    reporter.stop();
    reporter.line('pushed m:latest');
    const text = terminal.text();
    expect(text).toMatch(/total +[█░]+ +50% +15\.0 MB\/30\.0 MB/);
    expect(text).toMatch(/aaaaaaaaaaaa model +[█░]+ +62% +40\.0 MB, resumed at 25%/);
    expect(text).toContain('published m:latest');
    expect(text).not.toMatch(/\x1b\[[0-9;]*m/);
    expect(text.endsWith('pushed m:latest\n')).toBe(true);
    expect(text.lastIndexOf('\x1b[?25h')).toBeGreaterThan(text.lastIndexOf('\x1b[?25l'));
  });

  it('is chosen only for a terminal whose TERM is not dumb; --quiet prints nothing anywhere', () => {
    const terminal = fakeTerminal();
    createReporter(true, terminal).line('hidden');
    const dumb = createReporter(false, terminal, { TERM: 'dumb' });
    dumb.onEvent(plan);
    dumb.stop();
    expect(terminal.text()).toBe('destination /pvc/models (an Ollama home: writing under models/)\n1 of 2 blobs already present (27 B), skipped\n');
  });
});
