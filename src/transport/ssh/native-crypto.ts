import { createRequire } from 'node:module';

/**
 * Whether ssh2's optional native crypto binding (built by its install script) loaded. Without it
 * ssh2 falls back to slow JavaScript ciphers; package managers that skip install scripts leave it out.
 */
export function nativeCryptoAvailable(): boolean {
  const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto') as { bindingAvailable?: boolean };
  return crypto.bindingAvailable === true;
}

export const NATIVE_CRYPTO_MISSING =
  "warning: ssh2's native crypto binding is not built, so SSH transfers will be slow; run `npm rebuild ssh2 cpu-features` where ollama-push is installed (see Troubleshooting in the README)";
