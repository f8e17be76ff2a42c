// A broker of one test file's own, which it may stop and start (never the run's shared broker):
// infra's, so tests, the bench and the SASL_SSL checks start brokers one way.
export { type PrivateKafka, startPrivateKafka } from '@massivesms/infra';
