/** Reads one answer line from the terminal. */
import { createInterface } from 'node:readline';
import type { InStream, OutStream } from './io.js';

/** Writes `question` to `out` and resolves with the first line typed ('' at end of input). */
export function askLine(input: InStream, out: OutStream, question: string): Promise<string> {
  out.write(question);
  return new Promise((resolve) => {
    const rl = createInterface({ input, terminal: false });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line.trim());
    });
    rl.once('close', () => {
      if (!answered) resolve('');
    });
  });
}
