import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, FIXTURE_MODELS, REPO, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';

interface MakeResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `make -C examples TARGET VAR=...` with the repo's CLI, as a user would run the example. */
function make(target: string, variables: Record<string, string>, env: NodeJS.ProcessEnv = {}): Promise<MakeResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OLLAMA_PUSH') && key !== 'MAKEFLAGS') base[key] = value;
  const args = ['-C', join(REPO, 'examples'), target, `OLLAMA_PUSH=${process.execPath} ${CLI}`, ...Object.entries(variables).map(([k, v]) => `${k}=${v}`)];
  return new Promise((resolve) => {
    execFile('make', args, { env: { ...base, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('examples/Makefile', () => {
  let work: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    work = await tempDir('ollama-push-make-');
  });
  afterAll(() => work.remove());

  it('push-models pushes MODELS, and check-models passes only while the destination has them all', async () => {
    const remote = join(work.path, "the pvc's dir");
    const where = { MODELS_DIR: FIXTURE_MODELS, REMOTE_PATH: remote };

    const before = await make('check-models', { ...where, MODELS: 'tiny' });
    expect(before.code, before.stderr).not.toBe(0);
    expect(before.stderr).toMatch(/Error 1/);

    // HOST exported by the shell (as zsh and some CI systems do) must not turn this into an SSH push.
    const pushed = await make('push-models', { ...where, MODELS: 'tiny hf.co/org/Tiny-GGUF:Q4_K_M' }, { HOST: 'this-machine.invalid', OLLAMA_PUSH_MKDIR: '1' });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(/^pushed tiny:latest, hf\.co\/org\/Tiny-GGUF:Q4_K_M to .* on this machine/m);
    expect((await checkOllamaStore(remote)).models).toEqual([
      'hf.co/org/Tiny-GGUF:Q4_K_M',
      'registry.ollama.ai/library/tiny:latest',
    ]);

    const upToDate = await make('check-models', { ...where, MODELS: 'tiny hf.co/org/Tiny-GGUF:Q4_K_M' });
    expect(upToDate.code, upToDate.stderr).toBe(0);
    expect(upToDate.stdout).toMatch(/up to date: 7 of 7 blobs present, 2 of 2 manifests/);

    const oneMore = await make('check-models', { ...where, MODELS: 'tiny tiny:q2' });
    expect(oneMore.code).not.toBe(0);
    expect(oneMore.stdout).toMatch(/^tiny:q2 +missing \(would be published\)$/m);

    const quiet = await make('push-models', { ...where, MODELS: 'tiny:q2', FLAGS: '--quiet' });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    expect((await make('check-models', { ...where, MODELS: 'tiny tiny:q2' })).code).toBe(0);
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });

  it('lists the local models', async () => {
    const listed = await make('list-models', { MODELS_DIR: FIXTURE_MODELS });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^tiny:q2 +58bf492953f9 +1\.0 MB$/m);
  });
});
