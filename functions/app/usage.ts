// The command's usage, apart from the command itself: `--help` prints it without loading the
// SDK clients (cli-entry.ts), which is most of the command's start.

export const USAGE = `usage: imds-remediator <plan|apply> --policy <file> [--json] [--concurrency N] [--log-file <path>] [--no-findings]
       imds-remediator event <event.json> --policy <file> [--json] [--log-file <path>] [--no-findings]
       imds-remediator notify-test [--log-file <path>]
       imds-remediator doctor --policy <file> [--json] [--concurrency N] [--event-bus <name|arn>]
       imds-remediator guardrails --policy <file> [--out DIR] [--all-regions] [--json] [--concurrency N]

  plan    evaluate every instance of the organization and show what would change (changes nothing)
  apply   enforce IMDSv2 where the evidence allows (policy mode 'enforce'; mode 'report' changes nothing)
  event   handle one saved EventBridge CloudTrail event (RunInstances, ModifyInstanceMetadataOptions)
          as the event-driven auto-fix does: same output and exit codes as apply
  notify-test  post one test message to the Slack webhook (SLACK_WEBHOOK_URL or SLACK_WEBHOOK_SECRET_ARN)
  doctor  check, reading only, that the organization is ready: the caller lists it, the member role
          is assumable, and in every account-region in scope Security Hub is on, a trail logs management
          write events and the forwarding rule is enabled; the central bus admits the organization
  guardrails  whether each account and OU is ready for prevention (every instance requires IMDSv2 or has
          IMDS off, no IMDSv1 call in the window, no unknown evidence), from a plan that changes nothing;
          writes the SCP and the EC2 declarative policy into --out and prints the commands that would
          attach them to the ready OUs. It never attaches anything.

  --policy <file>     policy document, YAML or JSON; at least 'mode: report' or 'mode: enforce' (see policy.yaml)
  --json              print one JSON document on stdout instead of the table
  --concurrency N     account-regions swept at once (default 8)
  --log-file <path>   structured JSON logs go here instead of stderr
  --no-findings       do not write Security Hub findings (as policy findings.enabled: false)
  --event-bus <name|arn>  doctor: the central event bus (default imds-remediator-prod)
  --out DIR           guardrails: where the SCP and the declarative policy are written (default ./guardrails)
  --all-regions       guardrails: read every enabled region, not only the policy's scope.regions (an SCP
                      applies in all of them; without it, the others keep an account not ready)

exit codes: 0 every account-region swept, 1 some failed (the others were swept) or findings were
            not imported, 2 bad input. A Slack failure is reported, never an exit code.
            doctor: 0 everything in place, 1 something missing or unreadable, 2 bad input.
            guardrails: 0 every account in scope ready, 1 something not ready or unreadable, 2 bad input.`;

const COMMANDS = new Set(['plan', 'apply', 'event', 'notify-test', 'doctor', 'guardrails']);

/**
 * Whether these arguments ask for the usage and nothing else (`--help`, `-h`, or a command
 * with one of them): only then may the entry answer before loading the CLI. Anything else,
 * a bad option beside `--help` included, goes through the CLI's own parsing.
 */
export const asksOnlyForHelp = (argv: string[]): boolean => {
  const help = argv.filter((a) => a === '--help' || a === '-h');
  const rest = argv.filter((a) => a !== '--help' && a !== '-h');
  return help.length > 0 && rest.length <= 1 && rest.every((a) => COMMANDS.has(a));
};
