import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The page's own files, and nothing else: a fixed table read into memory at
 * start. A request path is looked up as sent (before any decoding), so
 * `/../x`, `/%2e%2e/x` or `/app.js/..` cannot name a file outside the table:
 * they are simply not in it (404).
 */
const PAGE_FILES: readonly { path: string; file: string; type: string }[] = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/index.html', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/style.css', file: 'style.css', type: 'text/css; charset=utf-8' },
];

/** Where the page lives in the package: `page/` beside `src/` and `dist/`. */
const PAGE_DIR = new URL('../../../page/', import.meta.url);

/**
 * No inline script or style, nothing from another origin; WebSockets only to
 * this origin ('self' covers ws: and wss: of the same host, CSP Level 3).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every response, error or not. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

interface Loaded {
  body: Buffer;
  type: string;
}

export class StaticFiles {
  private constructor(private readonly files: ReadonlyMap<string, Loaded>) {}

  static async load(dir: URL = PAGE_DIR): Promise<StaticFiles> {
    const files = new Map<string, Loaded>();
    for (const entry of PAGE_FILES) {
      files.set(entry.path, { body: await readFile(new URL(entry.file, dir)), type: entry.type });
    }
    return new StaticFiles(files);
  }

  /** Answers a plain HTTP request; returns the status sent (for the log). */
  serve(req: IncomingMessage, res: ServerResponse): number {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const file = this.files.get(path);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return plain(res, 405, 'method not allowed: GET or HEAD', { Allow: 'GET, HEAD' });
    }
    if (path === '/favicon.ico') {
      // Every browser asks; the page has no icon. 204, not a 404 in each user's console.
      res.writeHead(204, { ...SECURITY_HEADERS, 'Cache-Control': 'max-age=86400' });
      res.end();
      return 204;
    }
    if (file === undefined) return plain(res, 404, 'not found');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': file.type,
      'Content-Length': String(file.body.length),
      'Cache-Control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return 200;
  }
}

/** A short text/plain answer with the security headers. */
export function plain(
  res: ServerResponse,
  status: number,
  message: string,
  extra: Readonly<Record<string, string>> = {},
): number {
  const body = `${message}\n`;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
  });
  res.end(body);
  return status;
}
