/**
 * Named errors with stable `code` strings: callers (services, the migrate command, alerts) branch on
 * `code`, never on message text, so messages can improve without breaking anyone.
 */

/** Base class of every error thrown by @massivesms/db. */
export class DbError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Invalid options passed to an adapter or to the migration runner (fail fast at start-up). */
export class DbConfigError extends DbError {
  constructor(message: string) {
    super('DB_CONFIG_INVALID', message);
  }
}

/** A transaction handle was used after its transaction ended (its connection may already serve others). */
export class DbTransactionClosedError extends DbError {
  constructor() {
    super('DB_TX_CLOSED', 'transaction handle used after the transaction ended');
  }
}

/**
 * COMMIT turned into ROLLBACK because a statement inside the transaction failed (and the error was
 * caught). PostgreSQL reports this silently; we make it loud so nobody believes the writes happened.
 */
export class DbTransactionAbortedError extends DbError {
  constructor(options?: ErrorOptions) {
    super(
      'DB_TX_ABORTED',
      'transaction was rolled back instead of committed (a statement in it failed)',
      options,
    );
  }
}

/**
 * PostgreSQL did not answer a statement within the client-side query timeout (dead connection, cut
 * network, or a statement outliving the server-side timeout). The connection was destroyed, never
 * reused. Whether the statement took effect is unknown (a COMMIT may have been applied); a retry must
 * be idempotent. Not a fault of one row: a batch that hit it is rejected whole.
 */
export class DbQueryTimeoutError extends DbError {
  readonly timeoutMs: number;
  readonly retryable = true;

  constructor(timeoutMs: number, options?: ErrorOptions) {
    super(
      'DB_QUERY_TIMEOUT',
      `no answer from PostgreSQL within ${timeoutMs} ms; the connection was discarded (the statement may or may not have taken effect)`,
      options,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** No connection within the connection timeout: the server is unreachable or every pooled connection stayed busy. */
export class DbConnectTimeoutError extends DbError {
  readonly timeoutMs: number;
  readonly retryable = true;

  constructor(timeoutMs: number, options?: ErrorOptions) {
    super(
      'DB_CONNECT_TIMEOUT',
      `no PostgreSQL connection within ${timeoutMs} ms (server unreachable, or the pool stayed busy)`,
      options,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The migration folder could not be read. */
export class MigrationDirectoryError extends DbError {
  readonly dir: string;

  constructor(dir: string, options?: ErrorOptions) {
    super('DB_MIGRATION_DIR_UNREADABLE', `cannot read migration folder ${dir}`, options);
    this.dir = dir;
  }
}

/** A `.sql` file in a migration folder does not follow `NNNN_name.sql`. */
export class MigrationFileNameError extends DbError {
  readonly file: string;

  constructor(dir: string, file: string) {
    super(
      'DB_MIGRATION_BAD_FILE_NAME',
      `migration file ${file} in ${dir} is not named NNNN_name.sql (at least 4 digits, an underscore, a name)`,
    );
    this.file = file;
  }
}

/** Two files in one folder claim the same version number. */
export class MigrationDuplicateVersionError extends DbError {
  readonly version: number;
  readonly files: readonly string[];

  constructor(dir: string, version: number, files: readonly string[]) {
    super(
      'DB_MIGRATION_DUPLICATE_VERSION',
      `migration version ${version} appears more than once in ${dir}: ${files.join(', ')}`,
    );
    this.version = version;
    this.files = files;
  }
}

/** The versions in a folder do not run 1, 2, 3, … without holes. */
export class MigrationVersionGapError extends DbError {
  readonly expected: number;
  readonly found: number;

  constructor(dir: string, expected: number, found: number, file: string) {
    super(
      'DB_MIGRATION_VERSION_GAP',
      `migration versions in ${dir} must be 1, 2, 3, … without gaps: expected version ${expected}, found ${found} (${file})`,
    );
    this.expected = expected;
    this.found = found;
  }
}

/** An already-applied migration file was edited; the database no longer matches the file. */
export class MigrationChecksumMismatchError extends DbError {
  readonly service: string;
  readonly version: number;
  readonly file: string;
  readonly appliedChecksum: string;
  readonly fileChecksum: string;

  constructor(service: string, version: number, file: string, appliedChecksum: string, fileChecksum: string) {
    super(
      'DB_MIGRATION_CHECKSUM_MISMATCH',
      `migration ${file} (service ${service}, version ${version}) was changed after it was applied ` +
        `(applied checksum ${appliedChecksum}, file checksum ${fileChecksum}); add a new migration instead of editing it`,
    );
    this.service = service;
    this.version = version;
    this.file = file;
    this.appliedChecksum = appliedChecksum;
    this.fileChecksum = fileChecksum;
  }
}

/** A pending migration is older than one already applied, so applying it now would reorder history. */
export class MigrationOutOfOrderError extends DbError {
  readonly service: string;
  readonly version: number;

  constructor(service: string, version: number, file: string, maxApplied: number) {
    super(
      'DB_MIGRATION_OUT_OF_ORDER',
      `migration ${file} (service ${service}, version ${version}) is not applied but version ${maxApplied} is; ` +
        'refusing to apply out of order',
    );
    this.service = service;
    this.version = version;
  }
}

/** A migration file failed to apply; its transaction (DDL and bookkeeping row) was rolled back. */
export class MigrationFailedError extends DbError {
  readonly service: string;
  readonly version: number;
  readonly file: string;

  constructor(service: string, version: number, file: string, reason: string, options?: ErrorOptions) {
    super(
      'DB_MIGRATION_FAILED',
      `migration ${file} (service ${service}, version ${version}) failed: ${reason}`,
      options,
    );
    this.service = service;
    this.version = version;
    this.file = file;
  }
}
