/** Bytes per dump line, as in `hexdump -C`. */
const PER_LINE = 16;

function printable(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
}

/**
 * `hexdump -C` lines for `bytes`, numbered from `offset` (the position of
 * the first byte in its direction of the stream):
 *
 *     00000000  68 65 6c 6c 6f 0a                                 |hello.|
 */
export function hexDump(bytes: Uint8Array, offset = 0): string[] {
  const lines: string[] = [];
  for (let start = 0; start < bytes.length; start += PER_LINE) {
    const row = bytes.subarray(start, start + PER_LINE);
    let hex = '';
    let text = '';
    for (let i = 0; i < PER_LINE; i++) {
      const byte = row[i];
      hex += i === 8 ? '  ' : ' ';
      hex += byte === undefined ? '  ' : byte.toString(16).padStart(2, '0');
      if (byte !== undefined) text += printable(byte);
    }
    const position = (offset + start).toString(16).padStart(8, '0');
    lines.push(`${position} ${hex}  |${text}|`);
  }
  return lines;
}
