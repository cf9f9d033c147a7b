// The CLI's `--log-file`: opened before any AWS call, so that a path that cannot be written
// is bad input (exit 2), not a crash halfway through a run. Lines are written synchronously,
// so a failure is known at the line that failed; from then on the log goes to stderr, and
// the run still finishes and prints its report.
import { closeSync, openSync, writeSync } from 'node:fs';
import { InputError } from '../domain/errors.ts';

const errorCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;

const WHY: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'a part of its path is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exceeded',
};

const why = (error: unknown): string => {
  const code = errorCode(error);
  return code ? (WHY[code] ?? code) : 'an unknown error';
};

export interface LogFile {
  /** Appends one line; never throws. */
  write(line: string): void;
  close(): void;
}

/**
 * Opens `path` for appending, or throws InputError naming the path and the reason. A write
 * that fails later is told once through `stderr`, and that line and the ones after it go
 * there too.
 */
export const openLogFile = (path: string, stderr: (text: string) => void): LogFile => {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'a');
  } catch (error) {
    throw new InputError(`cannot write the log file ${path}: ${why(error)}`, { cause: error });
  }
  return {
    write: (line) => {
      if (fd === undefined) return stderr(line);
      try {
        writeSync(fd, line);
      } catch (error) {
        stderr(`imds-remediator: cannot write the log file ${path} any more (${why(error)}); the log continues here\n`);
        try {
          closeSync(fd);
        } catch {
          // The file is already unusable; the failure has just been reported.
        }
        fd = undefined;
        stderr(line);
      }
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
};
