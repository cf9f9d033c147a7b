// The doctor's composition root, apart from compose.ts so that only the CLI loads its SDK clients.
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { STSClient } from '@aws-sdk/client-sts';
import { CloudTrailAdapter } from '../../adapters/cloudtrail.ts';
import { Ec2Adapter } from '../../adapters/ec2.ts';
import { EventBridgeAdapter } from '../../adapters/eventbridge.ts';
import { OrganizationsAdapter, readOrganizationId } from '../../adapters/organizations.ts';
import { SecurityHubStateAdapter } from '../../adapters/securityhub-state.ts';
import type { DoctorWorld } from '../../doctor/ports.ts';
import { clientSettings, credentialsThrough, type AnyClient, type ComposeOptions } from '../compose.ts';

/**
 * The doctor's read-only view of the organization. Member accounts are read through the member
 * role and the caller's own account with its own credentials, exactly as composeWorld arranges it,
 * so that a check passes only where the sweep itself would get in.
 */
export const composeDoctor = ({ policy, env, customizeClient }: Omit<ComposeOptions, 'slack'>): DoctorWorld => {
  const base = clientSettings(env);
  const make = <C extends AnyClient>(client: C): C => {
    customizeClient?.(client);
    return client;
  };

  const sts = make(new STSClient({ ...base, region: env.homeRegion }));
  const orgClient = make(new OrganizationsClient({ ...base, region: env.homeRegion }));
  const organizations = new OrganizationsAdapter(orgClient, sts);
  const credentialsFor = credentialsThrough(sts, organizations, policy.memberRoleName);

  return {
    organization: organizations,
    organizationId: () => readOrganizationId(orgClient),
    accountEc2: (accountId) =>
      new Ec2Adapter(make(new EC2Client({ ...base, region: env.homeRegion, credentials: credentialsFor(accountId) }))),
    accountRegion: ({ accountId, region }) => {
      const credentials = credentialsFor(accountId);
      // A trail is read in its home region, which may differ from the region being checked.
      const trailClients = new Map<string, CloudTrailClient>();
      const trailClient = (home: string) => {
        const client = trailClients.get(home) ?? make(new CloudTrailClient({ ...base, region: home, credentials }));
        trailClients.set(home, client);
        return client;
      };
      return {
        securityHub: new SecurityHubStateAdapter(make(new SecurityHubClient({ ...base, region, credentials }))),
        trails: new CloudTrailAdapter(region, trailClient),
        rules: new EventBridgeAdapter(make(new EventBridgeClient({ ...base, region, credentials }))),
      };
    },
    // The central bus is the caller's own: doctor runs in the central account, as the deployment does.
    eventBuses: (region) => new EventBridgeAdapter(make(new EventBridgeClient({ ...base, region }))),
    homeRegion: env.homeRegion,
  };
};
