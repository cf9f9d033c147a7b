// A paged listing whose answers never end must fail its account-region, never loop or be
// taken as complete: the real SDK against moto, with the answers changed by SDK middleware.
import { describe, expect, it } from 'vitest';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { countCalls, loopingPages } from '../support/middleware.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();

describe('a listing that never ends (issue 12, finding 6)', () => {
  it('ends the account-region as an error after two DescribeInstances pages when the answer repeats its NextToken', async () => {
    const local = aws();
    await local.createOrganization([]);
    await local.runInstances(MANAGEMENT_ACCOUNT, 'us-east-1', { count: 3 });
    const counter = countCalls();
    const loop = loopingPages('DescribeInstances');

    const { report } = await sweep(testPolicy({ scope: { regions: ['us-east-1'] } }), {
      apply: true,
      customizeClient: (client) => {
        loop(client);
        counter.customizeClient(client);
      },
    });

    expect(report.errors).toEqual([
      { accountId: MANAGEMENT_ACCOUNT, region: 'us-east-1', message: expect.stringMatching(/^cannot list instances: PaginationError: DescribeInstances answered a NextToken it had already given/) },
    ]);
    expect(report.summary.errors).toBe(1);
    expect(counter.of('DescribeInstances')).toHaveLength(2);
    // Nothing was decided on a listing that never ended: no change, no finding archived.
    expect(counter.of('ModifyInstanceMetadataOptions')).toEqual([]);
    expect(counter.of('BatchImportFindings')).toEqual([]);
  });
});
