import { X509Certificate, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import { defaultTlsDir } from './paths.js';

/** A server's TLS certificate and key, where they came from, and the certificate's fingerprint. */
export interface ServerIdentity {
  cert: string;
  key: string;
  /** `SHA256:AB:CD:…` of the certificate: what clients pin. */
  fingerprint: string;
  /** Where it came from (files), for the log. */
  origin: string;
  created: boolean;
}

/** Ten years: a self-signed identity is trusted by its fingerprint, not its dates. */
const SELF_SIGNED_DAYS = 3650;

/** The SHA-256 fingerprint of a PEM certificate, as `SHA256:AB:CD:…` (what --fingerprint takes). */
export function fingerprintOf(certPem: string): string {
  try {
    return `SHA256:${new X509Certificate(certPem).fingerprint256}`;
  } catch (err) {
    throw new UsageError('BAD_OPTION', 'the certificate is not valid PEM', { cause: err });
  }
}

async function readPair(certPath: string, keyPath: string): Promise<{ cert: string; key: string }> {
  try {
    return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      'BAD_OPTION',
      `cannot read ${code === 'ENOENT' ? 'missing file' : 'file'} ${code === 'ENOENT' ? ((err as NodeJS.ErrnoException).path ?? '') : certPath}`,
      { cause: err },
    );
  }
}

/** Writes `data` to `path` with mode 0600, atomically (temp file + hard link; never overwrites). */
async function writeNew(path: string, data: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * The server's TLS identity: `--cert`/`--key` when given; otherwise a
 * self-signed certificate (EC P-256, for localhost, 127.0.0.1 and ::1) made
 * once and kept with mode 0600 in the config directory.
 */
export async function ensureServerIdentity(
  options: { cert?: string; key?: string; dir?: string } = {},
): Promise<ServerIdentity> {
  if (options.cert !== undefined || options.key !== undefined) {
    if (options.cert === undefined || options.key === undefined) {
      throw new UsageError('BAD_OPTION', '--cert and --key go together');
    }
    const pair = await readPair(options.cert, options.key);
    return { ...pair, fingerprint: fingerprintOf(pair.cert), origin: options.cert, created: false };
  }
  const dir = options.dir ?? defaultTlsDir();
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  try {
    const pair = await readPair(certPath, keyPath);
    return { ...pair, fingerprint: fingerprintOf(pair.cert), origin: certPath, created: false };
  } catch {
    // None yet: make one below.
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Loaded only here: the x509 stack it pulls in costs every CLI start ~0.3 s.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'sockit' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + SELF_SIGNED_DAYS * 86_400_000),
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  try {
    await writeNew(keyPath, pems.private);
    await writeNew(certPath, pems.cert);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      // Another server made one at the same moment: use that.
      const pair = await readPair(certPath, keyPath);
      return { ...pair, fingerprint: fingerprintOf(pair.cert), origin: certPath, created: false };
    }
    throw new UsageError('BAD_OPTION', `cannot write the TLS identity in ${dir}`, { cause: err });
  }
  return {
    cert: pems.cert,
    key: pems.private,
    fingerprint: fingerprintOf(pems.cert),
    origin: certPath,
    created: true,
  };
}
