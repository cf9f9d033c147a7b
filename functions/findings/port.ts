// What recording findings needs: Security Hub in one account-region, with that account's credentials.
import type { AsffFinding, ExistingFinding } from './asff.ts';

export interface ImportFailure {
  id: string;
  errorCode: string;
  message: string;
}

/** Which findings are ours in one account-region. */
export interface FindingsQuery {
  accountId: string;
  region: string;
  generatorId: string;
  /** The Id prefix of this account-region's findings. */
  idPrefix: string;
}

export interface FindingsPort {
  /**
   * Our ACTIVE findings already there whose Id starts with idPrefix (this account-region's),
   * whatever else the server returns. With `timeUp`, the read ends with an OutOfTimeError
   * between pages once time is up.
   */
  existing(query: FindingsQuery, timeUp?: () => boolean): Promise<Map<string, ExistingFinding>>;
  /** Imports in batches of at most 100; a batch that fails outright fails each of its findings. Never throws. */
  importFindings(findings: AsffFinding[]): Promise<ImportFailure[]>;
}
