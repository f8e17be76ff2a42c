export { createTestSchema, type TestSchema } from './test-database.ts';
