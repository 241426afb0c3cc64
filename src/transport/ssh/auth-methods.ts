import { readFile } from 'node:fs/promises';
import type { AnyAuthMethod } from 'ssh2';
import ssh2 from 'ssh2';
import { askHidden } from './ask-hidden.js';
import type { ResolvedSsh } from './ssh-config.js';

export interface AuthPlan {
  readonly methods: AnyAuthMethod[];
  /** What will be tried, for the error when all fail: "agent (/tmp/agent.sock), key ~/.ssh/id_ed25519". */
  readonly tried: string[];
  /** Keys that could not be used, and why (encrypted without a terminal, unreadable). */
  readonly skipped: string[];
}

/**
 * Agent first, then each identity file, like OpenSSH in batch mode. An encrypted key asks for its
 * passphrase only when stdin and stderr are a terminal; otherwise it is skipped and said so.
 */
export async function planAuthentication(target: ResolvedSsh): Promise<AuthPlan> {
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const skipped: string[] = [];
  const username = target.user;
  if (target.identityAgent && !target.identitiesOnly) {
    methods.push({ type: 'agent', username, agent: target.identityAgent });
    tried.push(`agent (${target.identityAgent})`);
  }
  for (const path of target.identityFiles) {
    const text = await readFile(path).catch(() => undefined);
    if (!text) continue;
    let parsed = ssh2.utils.parseKey(text);
    if (parsed instanceof Error && /passphrase/i.test(parsed.message)) {
      if (!process.stdin.isTTY || !process.stderr.isTTY) {
        skipped.push(`${path} is encrypted and there is no terminal to ask its passphrase (add it to ssh-agent)`);
        continue;
      }
      const passphrase = await askHidden(`Enter passphrase for key '${path}': `);
      parsed = ssh2.utils.parseKey(text, passphrase);
    }
    if (parsed instanceof Error) {
      skipped.push(`${path}: ${parsed.message}`);
      continue;
    }
    methods.push({ type: 'publickey', username, key: Array.isArray(parsed) ? parsed[0]! : parsed });
    tried.push(`key ${path}`);
  }
  return { methods, tried, skipped };
}
