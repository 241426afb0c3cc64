import type ssh2 from 'ssh2';

type Send = (signature: Buffer) => void;
type Signer = (data: Buffer, send: Send) => void;

interface ProtocolAuth {
  authPK(username: string, key: unknown, keyAlgo?: string | Signer, sign?: Signer): void;
}

interface KeyFile {
  isPrivateKey(): boolean;
  sign(data: Buffer, hash?: string): Buffer | Error;
}

/** The hash an RSA signature of each of ssh2's RSA key algorithms takes; other keys sign with their own. */
const RSA_HASHES: Readonly<Record<string, string>> = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' };

/**
 * Makes the client send a key file's signature in its first publickey request. ssh2, like OpenSSH, first
 * asks whether the server would take the key, and signs only once it says yes: a round trip more in
 * every connection (40 ms on a 40 ms link), for nothing a key file gains from. A server that refuses the
 * key answers a signed request as it answers the question, and the next method is tried. Keys of an
 * agent still ask first: signing can cost a touch or a confirmation there. Applied to ssh2's protocol
 * object of this connection (made by `connect`), left as it is where ssh2 has none of that shape.
 */
export function signKeyFilesAtOnce(client: ssh2.Client): void {
  const protocol = (client as unknown as { _protocol?: ProtocolAuth })._protocol;
  if (typeof protocol?.authPK !== 'function') return;
  const authPK = protocol.authPK.bind(protocol);
  protocol.authPK = (username, key, keyAlgo, sign) => {
    if (sign || typeof keyAlgo === 'function' || !isKeyFile(key)) return authPK(username, key, keyAlgo, sign);
    authPK(username, key, keyAlgo, (data, send) => {
      const signature = key.sign(data, keyAlgo === undefined ? undefined : RSA_HASHES[keyAlgo]);
      // The usual question instead: ssh2 then signs on the answer, and says why that fails.
      if (signature instanceof Error) authPK(username, key, keyAlgo);
      else send(signature);
    });
  };
}

function isKeyFile(key: unknown): key is KeyFile {
  const candidate = key as Partial<KeyFile> | null;
  return typeof candidate?.isPrivateKey === 'function' && typeof candidate.sign === 'function' && candidate.isPrivateKey();
}
