// Launch templates in the one report: a shard's digest counts them, pieces add up, and the
// aggregated summary (the CLI's, the deployed report's, Slack's) carries the counts.
import { describe, expect, it } from 'vitest';
import type { TemplateResult } from '../../functions/domain/templates.ts';
import { addDigests, aggregate } from '../../functions/report/aggregate.ts';
import { digestShard } from '../../functions/report/digest.ts';
import { sweepSummaryMessage } from '../../functions/notify/slack-message.ts';

const shard = { accountId: '111111111111', region: 'us-east-1' };
const template = (id: string, verdict: TemplateResult['verdict'], more: Partial<TemplateResult> = {}): TemplateResult => ({
  ...shard,
  launchTemplateId: id,
  launchTemplateName: id,
  verdict,
  allowsV1: verdict !== 'compliant',
  reason: 'r',
  defaultVersion: 1,
  createdVersions: [],
  changes: [],
  changed: false,
  instances: 0,
  v1Users: [],
  pinned: [],
  ...more,
});

describe('launch templates in the report', () => {
  it('counts templates by verdict, changed, still allowing IMDSv1, pinned groups and launch configurations', () => {
    const digest = digestShard({
      shard,
      instances: [],
      errors: [],
      templates: [
        template('lt-a', 'fix', { changed: true, allowsV1: false, createdVersions: [2] }),
        template('lt-b', 'blocked-v1-in-use'),
        template('lt-c', 'compliant', { pinned: [{ group: 'g', version: 1 }] }),
        template('lt-d', 'error'),
      ],
      launchConfigurations: [{ ...shard, name: 'lc', groups: [], reason: 'r' }],
    }, { hopCeiling: 1 });
    // A continued shard's earlier invocation looked at no template.
    const earlier = digestShard({ shard, instances: [], errors: [] }, { hopCeiling: 1 });

    const whole = addDigests(earlier, digest);
    const { report, overview } = aggregate({ mode: 'apply', plan: { accounts: 1, shards: 1, errors: [], errorCount: 0 }, digests: [whole], findingsEnabled: false });

    expect(report.summary.templates).toEqual({
      byVerdict: { compliant: 1, fix: 1, 'blocked-v1-in-use': 1, blocked: 0, 'insufficient-evidence': 0, exempt: 0, error: 1 },
      templates: 4,
      changed: 1,
      allowingV1: 2,
      pinnedGroups: 1,
      launchConfigurations: 1,
    });
    // A template that could not be decided is an error of the run.
    expect(report.summary.errors).toBe(1);
    const message = sweepSummaryMessage(report, overview, { regions: ['us-east-1'] });
    expect(message.text).toMatch(/launch templates: 4, 1 changed, 2 still allow IMDSv1$/);
    expect(JSON.stringify(message.blocks)).toContain('1 Auto Scaling groups pinned to a version that allows IMDSv1; 1 launch configurations allow IMDSv1');
  });
});
