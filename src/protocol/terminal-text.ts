const UNSAFE_FOR_TERMINALS =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes peer text safe for a terminal (croc CVE-2023-43620): C0 and C1
 * control characters (ESC, CR, BEL, …, and DEL) and the bidirectional
 * overrides that reorder what is shown become visible escapes (`\x1b`,
 * `\u202e`). Printable text is left alone.
 */
export function escapeText(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINALS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
