import { describe, expect, it } from 'vitest';
import { isNonCompliant, isToChange, type InstanceResult } from '../../functions/domain/model.ts';
import { VERDICTS, type Verdict } from '../../functions/domain/verdicts.ts';
import {
  autoFixMessage,
  blockedMessage,
  listSection,
  rollbackAlertMessage,
  sweepSummaryMessage as summaryOf,
  type SlackBlock,
  type SlackMessage,
} from '../../functions/notify/slack-message.ts';
import type { SweepOverview, SweepReport } from '../../functions/report/aggregate.ts';

const instance = (n: number, verdict: Verdict, over: Partial<InstanceResult> = {}): InstanceResult => ({
  accountId: String(100000000000 + (n % 7)),
  region: n % 2 ? 'us-east-1' : 'eu-west-1',
  instanceId: `i-${n.toString(16).padStart(17, '0')}`,
  verdict,
  reason: `reason <${n}> & more`,
  noTokenCalls: verdict === 'blocked-v1-in-use' ? n : 0,
  observedDays: 14,
  hopLimit: 1,
  changed: false,
  ...over,
});

/** A report and its overview as the aggregator leaves them, written out from the instances (plain data in, message out). */
const report = (instances: InstanceResult[], errors: SweepReport['errors'] = []): { report: SweepReport; overview: SweepOverview } => {
  const byVerdict = Object.fromEntries(VERDICTS.map((v) => [v, instances.filter((i) => i.verdict === v).length])) as SweepReport['summary']['byVerdict'];
  const nonCompliantByAccount = new Map<string, number>();
  for (const i of instances.filter(isNonCompliant)) nonCompliantByAccount.set(i.accountId, (nonCompliantByAccount.get(i.accountId) ?? 0) + 1);
  const blocked = instances
    .filter((i) => i.verdict === 'blocked-v1-in-use')
    .map((i) => ({ accountId: i.accountId, region: i.region, instanceId: i.instanceId, noTokenCalls: i.noTokenCalls ?? 0 }))
    .sort((a, b) => b.noTokenCalls - a.noTokenCalls);
  const instanceErrors = instances.filter((i) => i.verdict === 'error').map((i) => ({ accountId: i.accountId, region: i.region, message: `${i.instanceId}: ${i.reason}` }));
  return {
    report: {
      mode: 'apply',
      summary: {
        byVerdict,
        instances: instances.length,
        changed: instances.filter((i) => i.changed).length,
        toChange: instances.filter(isToChange).length,
        errors: errors.length + byVerdict.error,
        findingsFailed: 0,
        accounts: 7,
        shards: 14,
      },
      instances,
      templates: [],
      launchConfigurations: [],
      errors: [...errors, ...instanceErrors],
      findings: { enabled: false, imported: 0, unchanged: 0, failed: [] },
    },
    overview: { blocked, nonCompliantByAccount },
  };
};
const sweepSummaryMessage = ({ report: r, overview }: ReturnType<typeof report>, context: { regions: string[] }) => summaryOf(r, overview, context);

const sectionTexts = (blocks: SlackBlock[]) => blocks.flatMap((b) => (b.type === 'section' && 'text' in b ? [b.text.text] : []));

describe('sweep summary message', () => {
  it('fits Slack’s limits with 5000 blocked instances and 300 errors, saying how many were left out', () => {
    const blocked = Array.from({ length: 5000 }, (_, n) => instance(n, 'blocked-v1-in-use'));
    const errors = Array.from({ length: 300 }, (_, n) => ({ accountId: '100000000001', region: 'us-east-1', message: `boom ${n} `.repeat(20) }));

    const message = sweepSummaryMessage(report(blocked, errors), { regions: ['us-east-1', 'eu-west-1'] });

    expect(message.blocks.length).toBeLessThanOrEqual(50);
    const texts = sectionTexts(message.blocks);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(3000);
    const list = texts.find((t) => t.startsWith('*Blocked: IMDSv1 still in use (5000)*')) ?? '';
    const shown = list.split('\n').filter((l) => l.startsWith('• ')).length;
    expect(shown).toBeGreaterThan(10);
    expect(list.endsWith(`…and ${5000 - shown} more`)).toBe(true);
    // The heaviest v1 users first.
    expect(list.split('\n')[1]).toContain('4999 IMDSv1 calls');
    expect(texts.find((t) => t.startsWith('*Errors (300)*'))).toMatch(/…and \d+ more$/);
  });

  it('lists the top accounts by instances still non-compliant, not those already fixed or exempt', () => {
    const instances = [
      ...Array.from({ length: 3 }, (_, n) => instance(n * 7, 'blocked-v1-in-use')), // account …000 ×3
      instance(1, 'insufficient-evidence'), // account …001
      instance(2, 'enforce', { changed: true }), // fixed: not counted
      instance(3, 'exempt'),
    ];
    const texts = sectionTexts(sweepSummaryMessage(report(instances), { regions: [] }).blocks);
    expect(texts).toContain('*Top accounts by non-compliant instances*\n• `100000000000`: 3\n• `100000000001`: 1');
  });

  it('escapes what Slack would read as markup', () => {
    const message = sweepSummaryMessage(report([instance(1, 'error')]), { regions: ['us-east-1'] });
    expect(sectionTexts(message.blocks).join()).toContain('reason &lt;1&gt; &amp; more');
  });
});

describe('listSection', () => {
  it('keeps every line when they fit, and never exceeds the limit when they do not', () => {
    expect(listSection('*T*', ['a', 'b'], 100)).toBe('*T*\na\nb');
    for (let max = 20; max < 60; max++) {
      const text = listSection('*T*', Array.from({ length: 9 }, (_, n) => `line ${n}`), max);
      expect(text.length, String(max)).toBeLessThanOrEqual(max);
      const shown = text.split('\n').filter((l) => l.startsWith('line')).length;
      if (shown < 9) expect(text.endsWith(`…and ${9 - shown} more`)).toBe(true);
    }
  });
});

describe('instance messages', () => {
  it('an auto-fix says what was set and why it was safe', () => {
    const m = autoFixMessage(instance(5, 'enforce', { changed: true, hopLimit: 2, reason: '0 IMDSv1 calls on 14 observed days' }));
    expect(m.text).toBe('IMDSv2 enforced, hop limit 2 on i-00000000000000005 (100000000005, us-east-1): 0 IMDSv1 calls on 14 observed days');
    expect(sectionTexts(m.blocks).join('\n')).toContain('Why it was safe: 0 IMDSv1 calls on 14 observed days');
  });

  it('a blocked message gives the call count', () => {
    const m = blockedMessage(instance(42, 'blocked-v1-in-use'));
    expect(m.text).toMatch(/^Not enforced on i-0000000000000002a \(100000000000, eu-west-1\): IMDSv1 in use, 42 calls/);
  });
});

describe('text from instance data', () => {
  // A reason can quote what member-account users wrote (an Auto Scaling group's name, a tag).
  const hostile = 'by <!channel> <http://evil.example|click here> & co';
  const everyText = (m: SlackMessage) => [
    m.text,
    ...m.blocks.flatMap((b) => {
      if (b.type === 'section') return 'fields' in b ? b.fields.map((f) => f.text) : [b.text.text];
      if (b.type === 'context') return b.elements.map((e) => e.text);
      return [];
    }),
  ];

  it.each([
    ['an auto-fix', () => autoFixMessage(instance(1, 'enforce', { changed: true, reason: hostile }))],
    ['a blocked instance', () => blockedMessage(instance(2, 'blocked-v1-in-use', { reason: hostile }))],
    ['a rollback alert', () => rollbackAlertMessage(instance(3, 'v1-rejected', { reason: hostile }))],
    ['the sweep summary', () => sweepSummaryMessage(report([instance(4, 'error', { reason: hostile })], [{ accountId: '100000000001', region: 'us-east-1', message: hostile }]), { regions: ['us-east-1'] })],
  ])('is escaped in the text fallback and in every block of %s', (_, build) => {
    const texts = everyText(build());

    expect(texts.join('\n')).toContain('by &lt;!channel&gt; &lt;http://evil.example|click here&gt; &amp; co');
    for (const text of texts) {
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<http://evil');
      expect(text).not.toMatch(/&(?!amp;|lt;|gt;)/);
    }
  });
});

describe('the readiness per OU in the summary', () => {
  const unit = (n: number, name: string, ready: boolean) => ({
    id: `ou-abcd-${String(n).padStart(8, '0')}`,
    name,
    path: `Root/${name}`,
    parentId: 'r-abcd',
    accounts: 4,
    readyAccounts: ready ? 4 : 1,
    ready,
  });

  it('counts the ready accounts of each OU, escapes the names, and says how many OUs it left out', () => {
    const r = report([instance(1, 'compliant')]);
    const units = [unit(1, 'Prod <!channel>', true), unit(2, 'Dev', false)];
    r.report.readiness = { accounts: 8, readyAccounts: 5, units, unitCount: 30 };

    const message = sweepSummaryMessage(r, { regions: ['us-east-1'] });

    const section = sectionTexts(message.blocks).find((t) => t.startsWith('*Ready for prevention'));
    expect(section).toBe(
      '*Ready for prevention (SCP, declarative policy): 5 of 8 accounts*\n' +
        '• :white_check_mark: Root/Prod &lt;!channel&gt; (`ou-abcd-00000001`): 4/4 accounts ready\n' +
        '• Root/Dev (`ou-abcd-00000002`): 1/4 accounts ready\n' +
        '…and 28 more',
    );
    expect(message.text).toMatch(/, 5 of 8 accounts ready for prevention$/);
  });

  it('says nothing of readiness when the report has none (the tree was not read)', () => {
    const message = sweepSummaryMessage(report([instance(1, 'compliant')]), { regions: ['us-east-1'] });

    expect(sectionTexts(message.blocks).some((t) => t.includes('Ready for prevention'))).toBe(false);
    expect(message.text).not.toContain('ready for prevention');
  });
});
