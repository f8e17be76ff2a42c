import { DbConfigError } from './errors.ts';

/** Validates a schema name before it reaches SQL or a startup packet (shared by both adapters). */
export function checkSchemaName(schema: string): string {
  if (typeof schema !== 'string' || schema.length === 0) {
    throw new DbConfigError('schema must be a non-empty string');
  }
  if (schema.includes('\0')) {
    throw new DbConfigError('schema must not contain NUL characters');
  }
  // PostgreSQL silently truncates identifiers to 63 bytes, which could make two cells share a schema.
  if (Buffer.byteLength(schema, 'utf8') > 63) {
    throw new DbConfigError(
      `schema ${JSON.stringify(schema)} is longer than PostgreSQL's 63-byte identifier limit`,
    );
  }
  return schema;
}
