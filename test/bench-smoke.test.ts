import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectOutput, REPO, tempDir } from './harness/cli.js';
import { sshdAvailable } from './harness/sshd.js';

const METHODS = ['ollama-push', 'rsync', 'scp', 'ssh-cat'];
const SCENARIOS = ['loopback', 'proxy'];

function runBench(args: string[]) {
  const child = spawn(process.execPath, [join(REPO, 'dist', 'bench', 'run.js'), ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  return collectOutput(child);
}

// Runs the benchmark at toy sizes to prove it works end to end; it never asserts on speed.
describe.runIf(sshdAvailable())('npm run bench -- --smoke', () => {
  let out: { path: string; remove: () => Promise<void> };
  let result: Awaited<ReturnType<typeof runBench>>;

  beforeAll(async () => {
    out = await tempDir('ollama-push-bench-out-');
    result = await runBench(['--smoke', '--out', out.path]);
  }, 180_000);
  afterAll(() => out?.remove());

  it('finishes and prints the table', () => {
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^method\s+scenario\s+median s\s+MB\/s\s+vs rsync/m);
  });

  it('writes every method in every scenario, with positive numbers, to latest.json', async () => {
    const report = JSON.parse(await readFile(join(out.path, 'latest.json'), 'utf8'));
    for (const method of METHODS) {
      for (const scenario of SCENARIOS) {
        const row = report.transfers.find((r: { method: string; scenario: string }) => r.method === method && r.scenario === scenario);
        expect(row, `${method} ${scenario}`).toBeDefined();
        for (const key of ['bytes', 'medianSeconds', 'mbPerSecond', 'speedVsRsync']) expect(row[key], `${method} ${scenario} ${key}`).toBeGreaterThan(0);
      }
    }
    for (const scenario of SCENARIOS) {
      const noop = report.noop.find((r: { scenario: string }) => r.scenario === scenario);
      expect(noop.medianSeconds).toBeGreaterThan(0);
      expect(noop.connections).toBeGreaterThan(0);
      expect(noop.execChannels).toBeGreaterThan(0);
    }
    if (existsSync('/usr/bin/time')) {
      expect(report.peakRss).toHaveLength(2);
      for (const r of report.peakRss) expect(r.peakRssBytes).toBeGreaterThan(0);
    }
    expect(report.machine.cores).toBeGreaterThan(0);
  });

  it('draws latest.svg', async () => {
    const svg = await readFile(join(out.path, 'latest.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    for (const method of METHODS) expect(svg).toContain(`>${method}</text>`);
  });

  it('removes its temp dirs', () => {
    const work = /synthetic store in (\S+)/.exec(result.stderr)?.[1];
    expect(work).toBeDefined();
    expect(existsSync(work!)).toBe(false);
  });
});
