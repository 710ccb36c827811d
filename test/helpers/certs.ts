import { generate } from 'selfsigned';

export interface Pems {
  cert: string;
  key: string;
}

const DAY = 86_400_000;

type AltName = { type: 2; value: string } | { type: 7; ip: string };

const LOCAL_NAMES: AltName[] = [
  { type: 2, value: 'localhost' },
  { type: 7, ip: '127.0.0.1' },
];

/** A self-signed server certificate for 127.0.0.1 (what `serve --tls` makes). */
export async function selfSigned(): Promise<Pems> {
  const pems = await generate([{ name: 'commonName', value: 'sockit-test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: LOCAL_NAMES }],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A test CA that can sign server certificates, valid or deliberately broken. */
export async function testCa(): Promise<Pems & { sign: (o?: LeafOptions) => Promise<Pems> }> {
  const ca = await generate([{ name: 'commonName', value: 'sockit test CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const pair = { cert: ca.cert, key: ca.private };
  return {
    ...pair,
    sign: async (options: LeafOptions = {}) => {
      const leaf = await generate([{ name: 'commonName', value: options.name ?? 'localhost' }], {
        keyType: 'ec',
        curve: 'P-256',
        algorithm: 'sha256',
        ca: pair,
        ...(options.expired
          ? {
              notBeforeDate: new Date(Date.now() - 10 * DAY),
              notAfterDate: new Date(Date.now() - DAY),
            }
          : {}),
        extensions: [
          {
            name: 'subjectAltName',
            altNames: options.name ? [{ type: 2, value: options.name }] : LOCAL_NAMES,
          },
        ],
      });
      return { cert: leaf.cert, key: leaf.private };
    },
  };
}

export interface LeafOptions {
  /** Only this DNS name (so 127.0.0.1 does not match). */
  name?: string;
  /** Validity ended yesterday. */
  expired?: boolean;
}
