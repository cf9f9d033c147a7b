// What a person does about an Auto Scaling group pinned to a launch-template version that allows
// IMDSv1: the text report and the Security Hub finding print the same advice.
import { shellQuote } from './shell.ts';

/** MetadataOptions of the copy: EC2 replaces the source version's options with these, so the endpoint is named too. */
const METADATA_OPTIONS = '{"MetadataOptions":{"HttpTokens":"required","HttpEndpoint":"enabled"}}';

/**
 * The commands that give a pinned group what it launches now, with IMDSv2 required: a version of
 * the pinned version (not $Default, which may hold another image, user data or instance profile),
 * then the group pointed at it. Every value from the member account is one quoted argument.
 */
export const pinnedGroupCommand = (launchTemplateId: string, group: string, version: number): string =>
  `V=$(aws ec2 create-launch-template-version --launch-template-id ${shellQuote(launchTemplateId)} --source-version ${version} ` +
  `--launch-template-data ${shellQuote(METADATA_OPTIONS)} --query LaunchTemplateVersion.VersionNumber --output text) && ` +
  `aws autoscaling update-auto-scaling-group --auto-scaling-group-name ${shellQuote(group)} --launch-template LaunchTemplateId=${shellQuote(launchTemplateId)},Version="$V"`;

/** The advice around the command: the hop limit to keep, and EKS managed node groups, which EKS moves. */
export const pinnedGroupAdvice = (launchTemplateId: string, group: string, version: number): string =>
  `create a version of version ${version} with IMDSv2 required and point the group at it: ${pinnedGroupCommand(launchTemplateId, group, version)} ` +
  `(add HttpPutResponseHopLimit to the options if version ${version} sets one; for an EKS managed node group, point the node group at the new version with aws eks update-nodegroup-version --launch-template instead)`;
