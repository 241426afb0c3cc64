import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHA256_OF } from '../src/remote/remote-scripts.js';
import { tempDir } from './harness/cli.js';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

describe('sha256_of, the one sha256 the destination scripts use', () => {
  let dir: { path: string; remove: () => Promise<void> };
  const content = Buffer.from('ollama-push\n'.repeat(1000));
  const expected = createHash('sha256').update(content).digest('hex');

  beforeAll(async () => {
    dir = await tempDir();
    writeFileSync(join(dir.path, 'blob'), content);
  });
  afterAll(() => dir.remove());

  it.each(['openssl', 'sha256sum', 'shasum'].filter(has))('hashes a file and stdin with %s', (hasher) => {
    const run = (script: string, input?: Buffer) =>
      execFileSync('sh', ['-c', `${SHA256_OF}hasher=${hasher}\n${script}`, 'sh', join(dir.path, 'blob')], { input }).toString().trim();
    expect(run('sha256_of "$1"')).toBe(expected);
    expect(run('sha256_of', content)).toBe(expected);
  });

  it('fails, saying why, where there is no sha256 tool', () => {
    const result = spawnSync('sh', ['-c', `${SHA256_OF}hasher=none\nsha256_of "$0"`, join(dir.path, 'blob')]);
    expect(result.status).toBe(1);
    expect(result.stderr.toString()).toMatch(/no sha256 tool/);
  });
});
