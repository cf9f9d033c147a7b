import {
  BatchImportFindingsCommand,
  paginateGetFindings,
  type AwsSecurityFinding,
  type SecurityHubClient,
} from '@aws-sdk/client-securityhub';
import { describeError } from '../domain/errors.ts';
import { TokenBucket } from '../domain/token-bucket.ts';
import { ENFORCED_AT_FIELD, STATE_FIELD, type AsffFinding, type ExistingFinding } from '../findings/asff.ts';
import type { FindingsPort, FindingsQuery, ImportFailure } from '../findings/port.ts';
import { boundedPages } from './pages.ts';

/** What the member role must allow for this adapter (infra mirrors this list). */
export const SECURITYHUB_IAM_ACTIONS = ['securityhub:BatchImportFindings', 'securityhub:GetFindings'] as const;

/** BatchImportFindings takes at most 100 findings a call; moto does not enforce it, so we do. */
export const FINDINGS_PER_CALL = 100;
const PAGE_SIZE = 100;
/** 10,000 pages of 100 findings: a million findings in one account-region is not a real answer. */
const MAX_FINDING_PAGES = 10_000;
/**
 * Security Hub serves GetFindings at 3 requests a second (burst 6) per account-region: the
 * pages are asked for at that pace, so that a large read waits instead of spending the SDK's
 * retries on TooManyRequestsException (docs/SCALE.md counts its time).
 */
export const GET_FINDINGS_RATE = { capacity: 6, refillPerSecond: 3 } as const;

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
  readonly #pages = new TokenBucket(GET_FINDINGS_RATE.capacity, GET_FINDINGS_RATE.refillPerSecond);

  constructor(private readonly securityHub: SecurityHubClient) {}

  async existing(query: FindingsQuery, timeUp?: () => boolean): Promise<Map<string, ExistingFinding>> {
    const found = new Map<string, ExistingFinding>();
    // One query for our ACTIVE findings of this account-region: calls grow with pages, not
    // instances. Archived findings (kept 90 days) and, in an aggregation region, other regions'
    // findings are left on the server. Every filter is checked here too: not every server
    // applies them (moto applies none).
    const pages = paginateGetFindings(
      { client: this.securityHub, pageSize: PAGE_SIZE },
      {
        Filters: {
          GeneratorId: [{ Value: query.generatorId, Comparison: 'EQUALS' }],
          AwsAccountId: [{ Value: query.accountId, Comparison: 'EQUALS' }],
          Region: [{ Value: query.region, Comparison: 'EQUALS' }],
          RecordState: [{ Value: 'ACTIVE', Comparison: 'EQUALS' }],
        },
      },
    );
    await this.#pages.take();
    for await (const page of boundedPages('GetFindings', pages, MAX_FINDING_PAGES, timeUp)) {
      for (const f of page.Findings ?? []) {
        // The Id prefix names this account-region; a server that sets Region must name it too.
        const id = f.Id;
        const here = id?.startsWith(query.idPrefix) && (f.Region === undefined || f.Region === query.region);
        if (id && here && f.GeneratorId === query.generatorId && f.RecordState === 'ACTIVE') found.set(id, toExisting({ ...f, Id: id }));
      }
      // The paginator sends the next request when the loop asks for the next page: wait for its turn first.
      if (page.NextToken) await this.#pages.take();
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
