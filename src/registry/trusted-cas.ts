import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { usageError } from '../errors.js';

/** Where distributions keep the system's CA bundle (the first that exists is used). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem', '/etc/ssl/ca-bundle.pem'];

/**
 * The CAs a registry's certificate may chain to: Node's bundled roots, the system's (a private CA
 * installed with update-ca-certificates counts, as it does for docker and Ollama), $NODE_EXTRA_CA_CERTS,
 * and --ca-file.
 */
export async function trustedCas(caFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const cas = [...tls.rootCertificates];
  const getCACertificates = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (getCACertificates) {
    cas.push(...getCACertificates('system'));
  } else {
    for (const bundle of SYSTEM_BUNDLES) {
      const text = await readFile(bundle, 'utf8').catch(() => undefined);
      if (text !== undefined) {
        cas.push(text);
        break;
      }
    }
  }
  const extra = env.NODE_EXTRA_CA_CERTS;
  if (extra) cas.push(...[await readFile(extra, 'utf8').catch(() => '')].filter(Boolean));
  if (caFile !== undefined) {
    let text: string;
    try {
      text = await readFile(caFile, 'utf8');
    } catch (error) {
      throw usageError(`cannot read --ca-file ${caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw usageError(`--ca-file ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    cas.push(text);
  }
  return cas;
}
