/**
 * What a terminal shows after these writes, line by line: it moves on a carriage return, erases
 * to the end of the line on `ESC [ K`, and starts a new line on a newline.
 */
export const screen = (writes: string[]): string[] => {
  const lines = [''];
  let col = 0;
  for (const chunk of writes) {
    for (let i = 0; i < chunk.length; i++) {
      const last = lines.length - 1;
      const line = lines[last] ?? '';
      if (chunk[i] === '\r') col = 0;
      else if (chunk[i] === '\n') {
        lines.push('');
        col = 0;
      } else if (chunk.startsWith('\x1b[K', i)) {
        lines[last] = line.slice(0, col);
        i += 2;
      } else {
        lines[last] = line.slice(0, col) + chunk[i] + line.slice(col + 1);
        col++;
      }
    }
  }
  return lines;
};
