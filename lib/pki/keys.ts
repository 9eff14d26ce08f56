/** Key generation and signing with node:crypto, asynchronously, so no event loop stalls. */
import { generateKeyPair, type KeyObject, sign } from 'node:crypto';

export interface RsaKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** Generates an RSA key pair on libuv's thread pool. */
export function generateRsaKeyPair(bits = 2048): Promise<RsaKeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength: bits,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (err, publicKeyPem, privateKeyPem) => (err ? reject(err) : resolve({ privateKeyPem, publicKeyPem })),
    );
  });
}

/** RSA PKCS#1 v1.5 signature with SHA-256 over `data`, computed off the event loop. */
export function signSha256(data: Buffer, key: KeyObject | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign('sha256', data, key, (err, signature) => (err ? reject(err) : resolve(signature)));
  });
}
