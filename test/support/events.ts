export { driftEvent, fixture, runInstancesEvent } from '../../local/cloudtrail-events.ts';
