// The last step of `npm run build`: runs the bundled CLI once, a push of the fixture model `tiny` into a
// temporary directory, and writes V8's code cache of what that compiled next to the bundle (read by
// bin/load-cli.js). Code the push did not run is compiled when first called, as without a cache.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_CACHE, loadCli } from '../bin/load-cli.js';

const { cli, script } = loadCli({ useCache: false });
const destination = mkdtempSync(join(tmpdir(), 'ollama-push-code-cache-'));
const models = fileURLToPath(new URL('../fixtures/models', import.meta.url));
try {
  await cli.main(['tiny', '--models-dir', models, '--remote-path', destination, '--quiet']);
} finally {
  rmSync(destination, { recursive: true, force: true });
}
if (process.exitCode) throw new Error(`the push of the fixture model failed (exit ${process.exitCode}): no code cache written`);
writeFileSync(CODE_CACHE, script.createCachedData());
