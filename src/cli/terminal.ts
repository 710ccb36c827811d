import { clearLine, cursorTo, type Interface } from 'node:readline';

/**
 * A line printer for interactive clients (chat, msg): on a terminal it prints
 * above the line being typed — clear it, print, redraw the prompt with what was
 * typed so far (readline keeps it in `rl.line`) and the cursor where it was —
 * so incoming messages never clobber the input. Without readline: plain lines.
 */
export function printer(rl: Interface | undefined): (line: string) => void {
  if (!rl) return (line) => process.stdout.write(`${line}\n`);
  return (line) => {
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    process.stdout.write(`${line}\n`);
    rl.prompt(true);
  };
}
