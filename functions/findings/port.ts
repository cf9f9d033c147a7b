// What recording findings needs: Security Hub in one account-region, with that account's credentials.
import type { AsffFinding, ExistingFinding } from './asff.ts';

export interface ImportFailure {
  id: string;
  errorCode: string;
  message: string;
}

export interface FindingsPort {
  /** Our findings already there whose Id starts with idPrefix (this account-region's), whatever else the server returns. */
  existing(query: { accountId: string; generatorId: string; idPrefix: string }): Promise<Map<string, ExistingFinding>>;
  /** Imports in batches of at most 100; a batch that fails outright fails each of its findings. Never throws. */
  importFindings(findings: AsffFinding[]): Promise<ImportFailure[]>;
}
