import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCredentials, normalizeHost } from '../src/registry/credentials.js';
import { rangeEnd } from '../src/registry/registry-client.js';
import { UploadState } from '../src/registry/upload-state.js';
import { parseChallenges } from '../src/registry/www-authenticate.js';

describe('WWW-Authenticate', () => {
  it('parses Bearer and Basic challenges, quoted values with commas and escapes, several in one header', () => {
    expect(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
    ]);
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseChallenges(['Basic realm=x', 'Bearer realm="r\\"q",error=insufficient_scope'])).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'r"q', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('upload offsets', () => {
  it('reads the Range header as the next offset; 0-0 is an empty upload', () => {
    expect(rangeEnd('0-1048575')).toBe(1048576);
    expect(rangeEnd('bytes=0-99')).toBe(100);
    expect(rangeEnd('0-0')).toBe(0);
    expect(rangeEnd(undefined)).toBe(0);
  });

  it('keeps one private state file per registry, repository and blob', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ollama-push-state-'));
    try {
      const state = new UploadState(dir);
      const hex = 'a'.repeat(64);
      expect(await state.load('r:5000', 'library/x', hex)).toBeUndefined();
      await state.save({ registry: 'r:5000', repository: 'library/x', hex, location: '/v2/library/x/blobs/uploads/u?_state=s', offset: 42 });
      expect(await state.load('r:5000', 'library/x', hex)).toMatchObject({ location: '/v2/library/x/blobs/uploads/u?_state=s', offset: 42 });
      expect(await state.load('r:5000', 'library/y', hex)).toBeUndefined();
      expect((await stat(state.dir)).mode & 0o777).toBe(0o700);
      await state.remove('r:5000', 'library/x', hex);
      expect(await state.load('r:5000', 'library/x', hex)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('credentials', () => {
  it('matches docker config keys by host, with or without scheme and path', () => {
    expect(normalizeHost('https://Registry.LAN:5000/v1/')).toBe('registry.lan:5000');
    expect(normalizeHost('registry.lan')).toBe('registry.lan');
  });

  it('takes OLLAMA_PUSH_REGISTRY_USER/_PASSWORD first, and refuses only one of them', async () => {
    expect(await findCredentials('r.lan', { OLLAMA_PUSH_REGISTRY_USER: 'u', OLLAMA_PUSH_REGISTRY_PASSWORD: 'p', DOCKER_CONFIG: '/nonexistent' })).toMatchObject({
      kind: 'password',
      username: 'u',
      password: 'p',
    });
    await expect(findCredentials('r.lan', { OLLAMA_PUSH_REGISTRY_USER: 'u' })).rejects.toThrow(/set both OLLAMA_PUSH_REGISTRY_USER and OLLAMA_PUSH_REGISTRY_PASSWORD/);
    expect(await findCredentials('r.lan', { DOCKER_CONFIG: '/nonexistent' })).toBeUndefined();
  });
});
