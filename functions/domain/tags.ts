// Tags are the state (no database): what this tool did to an instance, when and why.
export const TAG_ENFORCED_AT = 'imds-remediator:enforced-at';
export const TAG_HOP_LIMIT_SET_AT = 'imds-remediator:hop-limit-set-at';
// Set when the tool raised a hop limit and left IMDSv1 allowed, to measure again (two-phase remediation).
export const TAG_HOP_LIMIT_RAISED_AT = 'imds-remediator:hop-limit-raised-at';
// Set when someone re-opened IMDSv1 after this tool enforced it: sweeps leave it open until the tag is removed.
export const TAG_REOPENED_AT = 'imds-remediator:reopened-at';
export const TAG_REVERTED_AT = 'imds-remediator:reverted-at';
// Set on a launch template when the tool made a new default version of it that requires IMDSv2.
export const TAG_TEMPLATE_FIXED_AT = 'imds-remediator:template-fixed-at';
export const TAG_REASON = 'imds-remediator:reason';
/** Set by EC2 Auto Scaling and by launch templates; they name an instance's siblings. */
export const TAG_ASG = 'aws:autoscaling:groupName';
export const TAG_LAUNCH_TEMPLATE = 'aws:ec2launchtemplate:id';
export const TAG_LAUNCH_TEMPLATE_VERSION = 'aws:ec2launchtemplate:version';
