import { fileURLToPath } from 'node:url';

/** Folder of the dispatcher's migrations (`massivesms migrate` applies them too). */
export const dispatcherMigrations = {
  service: 'dispatcher',
  dir: fileURLToPath(new URL('../migrations/', import.meta.url)),
};
