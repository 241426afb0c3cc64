// `npm run build` bundles the CLI (after tsc) into one file next to the module it starts from, so that
// paths found from import.meta.url (package.json, src/remote/sh) stay where they were. Node 20 resolves and
// compiles every module on its own: the CLI's 180 or so took 0.2 s of each run (0.17 s of a 0.71 s no-op push).
// CommonJS, so that bin/load-cli.js can compile it with V8's code cache (scripts/write-code-cache.js).
// ssh2 is in it (its modules took 30 ms to compile without the cache) but for its crypto module (below).
// The library (dist/src/index.js) is not bundled.
import { defineConfig } from 'rolldown';

/**
 * ssh2 is bundled but for its crypto module, which loads ssh2's native addon and a wasm file by paths
 * relative to itself: the bundle requires it from node_modules as the library does.
 */
function sshCryptoOutside() {
  return {
    name: 'ssh2-crypto-outside',
    resolveId(source, importer) {
      if (importer?.includes('/node_modules/ssh2/lib/') && /(^|\/)crypto\.js$/.test(source)) {
        return { id: 'ssh2/lib/protocol/crypto.js', external: true };
      }
      return null;
    },
  };
}

export default defineConfig({
  input: 'dist/src/cli/main.js',
  platform: 'node',
  external: ['cpu-features'],
  plugins: [sshCryptoOutside()],
  logLevel: 'warn',
  onLog(level, log, handler) {
    // yargs reads import.meta.resolve only for a config file's `extends`, which this CLI has no flag for.
    if (log.code === 'EMPTY_IMPORT_META' && log.id?.includes('/node_modules/yargs/')) return;
    handler(level, log);
  },
  output: { file: 'dist/src/cli/main.bundle.cjs', format: 'cjs', codeSplitting: false },
});
