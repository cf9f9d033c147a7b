import type { Log } from '../domain/log.ts';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
type Level = (typeof LEVELS)[number];

/**
 * The CLI's log: the same structured JSON lines as Powertools writes in Lambda, but to a
 * stream of our choosing, so that `--json` output on stdout stays one clean document.
 */
export class JsonLinesLog implements Log {
  readonly #threshold: number;

  constructor(
    private readonly write: (line: string) => void,
    level = 'INFO',
    private readonly service = 'imds-remediator',
  ) {
    const index = LEVELS.indexOf(level.toUpperCase() as Level);
    this.#threshold = index < 0 ? 1 : index;
  }

  #emit(level: Level, message: string, attributes?: Record<string, unknown>) {
    if (LEVELS.indexOf(level) < this.#threshold) return;
    this.write(`${JSON.stringify({ level, message, timestamp: new Date().toISOString(), service: this.service, ...attributes })}\n`);
  }

  debug(message: string, attributes?: Record<string, unknown>) {
    this.#emit('DEBUG', message, attributes);
  }
  info(message: string, attributes?: Record<string, unknown>) {
    this.#emit('INFO', message, attributes);
  }
  warn(message: string, attributes?: Record<string, unknown>) {
    this.#emit('WARN', message, attributes);
  }
  error(message: string, attributes?: Record<string, unknown>) {
    this.#emit('ERROR', message, attributes);
  }
}
