// Reads what Security Hub holds in one account-region, for the demo and the tests.
import { paginateGetFindings, SecurityHubClient, type AwsSecurityFinding } from '@aws-sdk/client-securityhub';
import { GENERATOR_ID } from '../functions/findings/asff.ts';
import type { LocalAws } from './local-aws.ts';

/** Our findings there (of instances, or of whatever `generatorId` names). moto ignores GetFindings filters, so they are applied here as well. */
export const readFindings = async (aws: LocalAws, accountId: string, region: string, generatorId = GENERATOR_ID): Promise<AwsSecurityFinding[]> => {
  const client = new SecurityHubClient({ region, credentials: await aws.credentials(accountId) });
  const findings: AwsSecurityFinding[] = [];
  const filters = { GeneratorId: [{ Value: generatorId, Comparison: 'EQUALS' as const }] };
  for await (const page of paginateGetFindings({ client, pageSize: 100 }, { Filters: filters })) {
    findings.push(...(page.Findings ?? []).filter((f) => f.GeneratorId === generatorId));
  }
  return findings;
};
