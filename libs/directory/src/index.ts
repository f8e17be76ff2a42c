export { type ControllerDirectory, startControllerDirectory } from './controller-directory.ts';
export {
  purgeExpired,
  type RetentionCutoffs,
  type RetentionDeps,
  type RetentionStore,
  type RetentionTx,
  retentionCutoffs,
  topicRetentionMs,
} from './retention.ts';
