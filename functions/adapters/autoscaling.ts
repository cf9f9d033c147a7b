// EC2 Auto Scaling: which groups launch from which template version, and the launch
// configurations (which cannot be changed) that still allow IMDSv1.
import { paginateDescribeAutoScalingGroups, paginateDescribeLaunchConfigurations, type AutoScalingClient, type LaunchTemplateSpecification } from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort, GroupListing } from '../pipeline/ports.ts';
import { boundedPages } from './pages.ts';

/** What the member role must allow for this adapter (infra mirrors this list). */
export const AUTOSCALING_IAM_ACTIONS = ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeLaunchConfigurations'] as const;

/** 1,000 pages of 100: far beyond the quota of groups (500) and launch configurations (200) in one account-region. */
const MAX_PAGES = 1_000;

const spec = (s: LaunchTemplateSpecification | undefined): GroupListing['templates'] =>
  s && (s.LaunchTemplateId || s.LaunchTemplateName)
    ? [{ launchTemplateId: s.LaunchTemplateId, launchTemplateName: s.LaunchTemplateName, version: s.Version ?? '$Default' }]
    : [];

export class AutoScalingAdapter implements AutoScalingPort {
  constructor(private readonly autoscaling: AutoScalingClient) {}

  async listGroups(): Promise<GroupListing[]> {
    const groups: GroupListing[] = [];
    const pages = paginateDescribeAutoScalingGroups({ client: this.autoscaling, pageSize: 100 }, {});
    for await (const page of boundedPages('DescribeAutoScalingGroups', pages, MAX_PAGES)) {
      for (const g of page.AutoScalingGroups ?? []) {
        if (!g.AutoScalingGroupName) continue;
        const mixed = g.MixedInstancesPolicy?.LaunchTemplate;
        groups.push({
          name: g.AutoScalingGroupName,
          templates: [
            ...spec(g.LaunchTemplate),
            ...spec(mixed?.LaunchTemplateSpecification),
            ...(mixed?.Overrides ?? []).flatMap((o) => spec(o.LaunchTemplateSpecification)),
          ],
          launchConfigurationName: g.LaunchConfigurationName,
        });
      }
    }
    return groups;
  }

  async listLaunchConfigurationsAllowingV1(): Promise<string[]> {
    const names: string[] = [];
    const pages = paginateDescribeLaunchConfigurations({ client: this.autoscaling, pageSize: 100 }, {});
    for await (const page of boundedPages('DescribeLaunchConfigurations', pages, MAX_PAGES)) {
      for (const c of page.LaunchConfigurations ?? []) {
        const m = c.MetadataOptions;
        if (c.LaunchConfigurationName && m?.HttpEndpoint !== 'disabled' && m?.HttpTokens !== 'required') names.push(c.LaunchConfigurationName);
      }
    }
    return names;
  }
}
