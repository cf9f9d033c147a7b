// The regions of every AWS partition, so that a misspelt region in the policy is refused
// instead of sweeping nothing there and exiting 0. Taken from the AWS SDK's partition data
// (@aws-sdk/core 3.981, util-endpoints partitions); a region AWS opens later needs a line here.

export const REGIONS_BY_PARTITION = {
  aws: [
    'af-south-1',
    'ap-east-1',
    'ap-east-2',
    'ap-northeast-1',
    'ap-northeast-2',
    'ap-northeast-3',
    'ap-south-1',
    'ap-south-2',
    'ap-southeast-1',
    'ap-southeast-2',
    'ap-southeast-3',
    'ap-southeast-4',
    'ap-southeast-5',
    'ap-southeast-6',
    'ap-southeast-7',
    'ca-central-1',
    'ca-west-1',
    'eu-central-1',
    'eu-central-2',
    'eu-north-1',
    'eu-south-1',
    'eu-south-2',
    'eu-west-1',
    'eu-west-2',
    'eu-west-3',
    'il-central-1',
    'me-central-1',
    'me-south-1',
    'me-west-1',
    'mx-central-1',
    'sa-east-1',
    'sa-west-1',
    'us-east-1',
    'us-east-2',
    'us-west-1',
    'us-west-2',
  ],
  'aws-us-gov': ['us-gov-east-1', 'us-gov-west-1'],
  'aws-cn': ['cn-north-1', 'cn-northwest-1'],
  'aws-eusc': ['eusc-de-east-1'],
  'aws-iso': ['us-iso-east-1', 'us-iso-west-1'],
  'aws-iso-b': ['us-isob-east-1', 'us-isob-west-1'],
  'aws-iso-e': ['eu-isoe-west-1'],
  'aws-iso-f': ['us-isof-east-1', 'us-isof-south-1'],
} as const satisfies Record<string, readonly string[]>;

export type Partition = keyof typeof REGIONS_BY_PARTITION;

const PARTITION_OF = new Map<string, Partition>(
  Object.entries(REGIONS_BY_PARTITION).flatMap(([partition, regions]) => regions.map((region) => [region, partition as Partition])),
);

/** The partition a region belongs to, or undefined for a region AWS does not have. */
export const partitionOf = (region: string): Partition | undefined => PARTITION_OF.get(region);
