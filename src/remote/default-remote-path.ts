import { PushError } from '../errors.js';
import type { Transport } from '../transport/transport.js';
import { shellCommand } from '../transport/shell-quote.js';

/** Prints `<source> <path>` for the destination's Ollama store: the service's OLLAMA_MODELS, the service install's, the user's. */
const FIND_STORE = `set -f
env=$(systemctl show ollama --property=Environment --value 2>/dev/null | tr -d '"')
for word in $env; do
  case $word in OLLAMA_MODELS=?*) echo "service \${word#OLLAMA_MODELS=}"; exit 0 ;; esac
done
[ -d /usr/share/ollama/.ollama/models ] && { echo "install /usr/share/ollama/.ollama/models"; exit 0; }
[ -d "$HOME/.ollama/models" ] && { echo "user $HOME/.ollama/models"; exit 0; }
echo none
`;

const WHY: Record<string, string> = {
  service: "OLLAMA_MODELS of the ollama service",
  install: 'the Linux service install',
  user: "the login user's ~/.ollama/models",
};

/** Without --remote-path: find where the destination's Ollama keeps its models, and say why. */
export async function findDefaultRemotePath(transport: Transport, sudo: boolean): Promise<{ path: string; why: string }> {
  const words = [...(sudo ? ['sudo', '-n'] : []), 'sh', '-c', FIND_STORE];
  const result = await transport.run(shellCommand(words));
  if (result.code !== 0) {
    const why = result.stderr.toString('utf8').trim().split('\n').pop() || `exit ${result.code}`;
    throw new PushError(`cannot look for the Ollama store on ${transport.label}: ${why}; pass --remote-path DIR`, { side: 'remote' });
  }
  const [source, ...rest] = result.stdout.toString('utf8').trim().split(' ');
  const path = rest.join(' ');
  if (!source || !WHY[source] || !path.startsWith('/')) {
    throw new PushError(`found no Ollama store on ${transport.label} (no ollama service with OLLAMA_MODELS, no /usr/share/ollama/.ollama/models, no ~/.ollama/models); pass --remote-path DIR`, {
      side: 'usage',
    });
  }
  return { path, why: WHY[source] };
}
