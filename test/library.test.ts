import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODELS, REPO, tempDir } from './harness/cli.js';
import { checkOllamaStore } from './harness/ollama-store-checker.js';

/** Another project that depends on ollama-push (linked, as npm link does) and uses it as a library. */
describe('ollama-push as a library', () => {
  let project: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    project = await tempDir('ollama-push-consumer-');
    await writeFile(join(project.path, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    await mkdir(join(project.path, 'node_modules'));
    await symlink(REPO, join(project.path, 'node_modules', 'ollama-push'));
  });
  afterAll(() => project.remove());

  it('imports push, diff and openDestination with types (tsc --strict)', async () => {
    const source = `import { diff, openDestination, push, type PushResult } from 'ollama-push';
const destination = await openDestination({ remotePath: '/tmp/x' });
const result: PushResult = await push({ models: ['tiny'], destination });
const planned = await diff({ models: ['tiny'], destination });
const sent: number = result.bytesSent + planned.plan.bytesToSend;
// @ts-expect-error models must be names, not one string
await push({ models: 'tiny', destination });
console.log(sent);
`;
    await writeFile(join(project.path, 'use.ts'), source);
    const tsc = join(REPO, 'node_modules', '.bin', 'tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'use.ts'];
    expect(() => execFileSync(tsc, args, { cwd: project.path, stdio: 'pipe' })).not.toThrow();
  });

  it('pushes the fixture model into a local dir and diffs it up to date', async () => {
    const remote = join(project.path, 'remote');
    const script = `import { diff, openDestination, push } from 'ollama-push';
const destination = await openDestination({ remotePath: ${JSON.stringify(remote)} });
try {
  const pushed = await push({ models: ['tiny'], destination, modelsDir: ${JSON.stringify(FIXTURE_MODELS)}, createRemotePath: true });
  const after = await diff({ models: ['tiny'], destination, modelsDir: ${JSON.stringify(FIXTURE_MODELS)} });
  console.log(JSON.stringify({ published: pushed.published, toSend: after.plan.bytesToSend }));
} finally {
  await destination.close();
}
`;
    await writeFile(join(project.path, 'push.mjs'), script);
    const output = execFileSync(process.execPath, ['push.mjs'], { cwd: project.path }).toString();
    expect(JSON.parse(output)).toEqual({ published: ['tiny:latest'], toSend: 0 });
    expect((await checkOllamaStore(remote)).problems).toEqual([]);
  });
});
