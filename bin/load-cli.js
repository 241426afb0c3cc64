// Loads the bundled CLI (`npm run build`) with V8's code cache of it, written at build time by
// scripts/write-code-cache.js: Node 20 has no compile cache of its own, and compiling the 700 kB bundle
// took 60-80 ms of every run. A cache V8 refuses (another Node, other flags) only costs that compile.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const BUNDLE = fileURLToPath(new URL('../dist/src/cli/main.bundle.cjs', import.meta.url));
export const CODE_CACHE = `${BUNDLE}.cache`;

/** The CLI's exports, and the compiled script (for createCachedData). */
export function loadCli({ useCache = true } = {}) {
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(CODE_CACHE);
    } catch {
      // No cache: compiled as any module is.
    }
  }
  // CommonJS's own wrapper, on the bundle's first line, so that stack traces keep its line numbers.
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(BUNDLE, 'utf8')}\n})`;
  const script = new Script(source, { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { cli: module.exports, script };
}
