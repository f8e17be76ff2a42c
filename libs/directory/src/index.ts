export { type ControllerDirectory, startControllerDirectory } from './controller-directory.ts';
