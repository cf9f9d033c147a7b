import { Logger } from '@aws-lambda-powertools/logger';

/** One Powertools logger per container; its level comes from POWERTOOLS_LOG_LEVEL. */
export const logger = new Logger({ serviceName: 'imds-remediator' });
