// The identifiers every edge validates (policy, events, Step Functions payloads, findings),
// written once so that the four readers cannot drift apart.
import { z } from 'zod';

export const ACCOUNT_ID = /^\d{12}$/;
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
export const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
export const OU_ID = /^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$/;

export const accountIdSchema = z.string().regex(ACCOUNT_ID, 'must be a 12-digit account id');
export const regionSchema = z.string().regex(REGION, 'must be a region name like us-east-1');
export const instanceIdSchema = z.string().regex(INSTANCE_ID, 'must be an instance id like i-0123456789abcdef0');
export const ouIdSchema = z.string().regex(OU_ID, 'must be an OU id like ou-xxxx-xxxxxxxx, or a root id like r-xxxx');

export const isInstanceId = (text: string): boolean => INSTANCE_ID.test(text);
