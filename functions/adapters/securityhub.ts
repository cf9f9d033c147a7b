import {
  BatchImportFindingsCommand,
  paginateGetFindings,
  type AwsSecurityFinding,
  type SecurityHubClient,
} from '@aws-sdk/client-securityhub';
import { describeError } from '../domain/errors.ts';
import { ENFORCED_AT_FIELD, STATE_FIELD, type AsffFinding, type ExistingFinding } from '../findings/asff.ts';
import type { FindingsPort, ImportFailure } from '../findings/port.ts';
import { boundedPages } from './pages.ts';

/** What the member role must allow for this adapter (infra mirrors this list). */
export const SECURITYHUB_IAM_ACTIONS = ['securityhub:BatchImportFindings', 'securityhub:GetFindings'] as const;

/** BatchImportFindings takes at most 100 findings a call; moto does not enforce it, so we do. */
export const FINDINGS_PER_CALL = 100;
const PAGE_SIZE = 100;
/** 10,000 pages of 100 findings: a million findings in one account-region is not a real answer. */
const MAX_FINDING_PAGES = 10_000;

const toExisting = (f: AwsSecurityFinding & { Id: string }): ExistingFinding => {
  const options = f.Resources?.[0]?.Details?.AwsEc2Instance?.MetadataOptions;
  return {
    id: f.Id,
    complianceStatus: f.Compliance?.Status,
    recordState: f.RecordState,
    state: f.ProductFields?.[STATE_FIELD],
    enforcedAt: f.ProductFields?.[ENFORCED_AT_FIELD],
    createdAt: f.CreatedAt,
    updatedAt: f.UpdatedAt,
    firstObservedAt: f.FirstObservedAt,
    lastOptions:
      options?.HttpTokens && options.HttpEndpoint && options.HttpPutResponseHopLimit !== undefined
        ? { httpTokens: options.HttpTokens, httpEndpoint: options.HttpEndpoint, hopLimit: options.HttpPutResponseHopLimit }
        : undefined,
  };
};

export class SecurityHubAdapter implements FindingsPort {
  constructor(private readonly securityHub: SecurityHubClient) {}

  async existing(query: { accountId: string; generatorId: string; idPrefix: string }): Promise<Map<string, ExistingFinding>> {
    const found = new Map<string, ExistingFinding>();
    // One query for all of our findings in this account-region: calls grow with pages, not
    // instances. Generator and Id are checked here too: not every server applies the filters.
    const pages = paginateGetFindings(
      { client: this.securityHub, pageSize: PAGE_SIZE },
      {
        Filters: {
          GeneratorId: [{ Value: query.generatorId, Comparison: 'EQUALS' }],
          AwsAccountId: [{ Value: query.accountId, Comparison: 'EQUALS' }],
        },
      },
    );
    for await (const page of boundedPages('GetFindings', pages, MAX_FINDING_PAGES)) {
      for (const f of page.Findings ?? []) {
        // An aggregation region also returns other regions' findings: the Id prefix keeps this account-region's.
        if (f.Id?.startsWith(query.idPrefix) && f.GeneratorId === query.generatorId) found.set(f.Id, toExisting({ ...f, Id: f.Id }));
      }
    }
    return found;
  }

  async importFindings(findings: AsffFinding[]): Promise<ImportFailure[]> {
    const failures: ImportFailure[] = [];
    for (let offset = 0; offset < findings.length; offset += FINDINGS_PER_CALL) {
      const batch = findings.slice(offset, offset + FINDINGS_PER_CALL);
      try {
        const out = await this.securityHub.send(new BatchImportFindingsCommand({ Findings: batch }));
        for (const f of out.FailedFindings ?? []) {
          failures.push({ id: f.Id ?? '', errorCode: f.ErrorCode ?? 'Unknown', message: f.ErrorMessage ?? '' });
        }
      } catch (error) {
        // The SDK has already retried throttling and 5xx; what is left fails the whole batch.
        const errorCode = error instanceof Error ? error.name : 'Error';
        const message = describeError(error);
        for (const f of batch) failures.push({ id: f.Id, errorCode, message });
      }
    }
    return failures;
  }
}
