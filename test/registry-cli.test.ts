import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODELS, runCli, tempDir } from './harness/cli.js';
import { startRegistry, type TestRegistry } from './harness/registry.js';

/** The real CLI against a real registry (Debian's docker-registry, TLS from a throwaway CA, htpasswd). */
describe('push --registry, the CLI', () => {
  let registry: TestRegistry;
  let work: { path: string; remove: () => Promise<void> };
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    runCli([...args, '--models-dir', FIXTURE_MODELS, '--registry', registry.host, '--ca-file', registry.caFile!], { env: { ...env, ...extra } });

  beforeAll(async () => {
    registry = await startRegistry();
    work = await tempDir();
    env = { ...process.env, HOME: work.path, XDG_STATE_HOME: join(work.path, 'state'), OLLAMA_PUSH_REGISTRY_USER: registry.user, OLLAMA_PUSH_REGISTRY_PASSWORD: registry.password };
  });
  afterAll(async () => {
    await registry?.stop();
    await work?.remove();
  });

  it('pushes, says the name to pull, serves the manifest byte for byte, and diffs up to date', async () => {
    const pushed = await cli(['tiny']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain(`pull it with: ollama pull ${registry.host}/library/tiny:latest`);

    const local = await readFile(join(FIXTURE_MODELS, 'manifests/registry.ollama.ai/library/tiny/latest'));
    const auth = `Basic ${Buffer.from(`${registry.user}:${registry.password}`).toString('base64')}`;
    const served = await fetchWithCa(`${registry.url}/v2/library/tiny/manifests/latest`, auth, await readFile(registry.caFile!));
    expect(createHash('sha256').update(served).digest('hex')).toBe(createHash('sha256').update(local).digest('hex'));

    expect((await cli(['diff', 'tiny', '--exit-code'])).code).toBe(0);
    const again = await cli(['tiny', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ bytesSent: 0, pullNames: [`${registry.host}/library/tiny:latest`] });
  });

  it('says in one line that the password is wrong, and exits 1', async () => {
    const result = await cli(['tiny:q2'], { OLLAMA_PUSH_REGISTRY_PASSWORD: 'not-it' });
    expect(result.code).toBe(1);
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('ollama-push:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/credentials|password|denied|unauthorized/i);
  });

  it('refuses --registry together with an Ollama store destination (exit 2)', async () => {
    const result = await cli(['tiny', '--remote-path', '/tmp']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^ollama-push: --registry and --remote-path both name a destination/);
  });
});

/** GET with the Accept header Ollama sends, trusting the test CA. */
async function fetchWithCa(url: string, authorization: string, ca: Buffer): Promise<Buffer> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const headers = { Accept: 'application/vnd.docker.distribution.manifest.v2+json', Authorization: authorization };
    const req = request(url, { headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    req.end();
  });
}
