// Plain-text tables for the terminal: columns padded to their widest cell, two spaces apart.
const pad = (cells: string[], widths: number[]) => cells.map((c, n) => c.padEnd(widths[n] ?? 0)).join('  ').trimEnd();

/** The rows as aligned lines; the first row sets the number of columns. */
export const textTable = (rows: string[][]): string[] => {
  const widths = rows[0]?.map((_, n) => Math.max(...rows.map((r) => (r[n] ?? '').length))) ?? [];
  return rows.map((r) => pad(r, widths));
};
