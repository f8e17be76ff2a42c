import { z } from 'zod';
import { PrivacyError } from './errors.ts';
import { isPurpose, PURPOSES, type Purpose } from './purposes.ts';
import {
  findSubprocessor,
  isTransferMechanism,
  processesOutsideRegion,
  SUBPROCESSORS,
  type SubprocessorRegistry,
  subprocessorStatus,
  TRANSFER_MECHANISMS,
} from './subprocessors.ts';
import type { Region } from './types.ts';

/**
 * Stable codes of the problems a refused instruction is reported with (DPA §3 notice). The control API,
 * dashboards and customer documentation key on these, so they never change meaning.
 */
export const INSTRUCTION_PROBLEM_CODES = {
  INSTRUCTION_SCHEMA_INVALID: 'A field is missing, unknown, or of the wrong type or range.',
  INSTRUCTION_UNKNOWN_PURPOSE: 'A purpose is not in the SMS purpose vocabulary.',
  INSTRUCTION_UNKNOWN_SUBPROCESSOR: 'A subprocessor is not on the published subprocessor list.',
  INSTRUCTION_SUBPROCESSOR_NOT_EFFECTIVE:
    'A subprocessor is announced but its 30-day notice period has not ended.',
  INSTRUCTION_SUBPROCESSOR_REGION: "A subprocessor does not serve the controller's home region.",
  INSTRUCTION_TRANSFER_MECHANISM_REQUIRED:
    'A subprocessor processes outside the home region and the instruction names no transfer mechanism.',
  INSTRUCTION_TRANSFER_MECHANISM_UNAVAILABLE:
    'The named transfer mechanism is not in place with that subprocessor.',
  INSTRUCTION_RETENTION_TOO_LONG: 'A retention period exceeds the maximum allowed for the controller.',
  INSTRUCTION_QUIET_HOURS_INVALID:
    'Quiet hours have a malformed time, an empty window or an unknown time zone.',
  INSTRUCTION_DUPLICATE_SUBPROCESSOR: 'A subprocessor is listed more than once in the route.',
} as const;

/** A stable problem code. */
export type InstructionProblemCode = keyof typeof INSTRUCTION_PROBLEM_CODES;

/** One reason an instruction was refused; the message is written for the controller's admins. */
export interface InstructionProblem {
  readonly code: InstructionProblemCode;
  /** Where in the document, e.g. `subprocessors[1]` or `retention.contentDays`; empty for the whole. */
  readonly path: string;
  readonly message: string;
}

/** The notice we owe the controller when refusing an instruction (DPA §3): every problem at once. */
export interface InstructionNotice {
  readonly summary: string;
  readonly problems: readonly InstructionProblem[];
}

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;
const MAX_QUOTED = 64;

/** Quotes a controller-supplied value for a message, bounded so a huge value cannot bloat the notice. */
function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text);
}

/** Intl accepts any IANA name (case-insensitively) and also raw offsets, which are not time zones. */
function isIanaTimeZone(name: string): boolean {
  if (!/^[A-Za-z]/.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const subprocessorName = z.string().min(1).max(64);

const purposeSchema = z.string().pipe(
  z.custom<Purpose>(isPurpose, {
    error: (issue) =>
      `purpose ${quote(issue.input)} is not allowed for SMS; allowed purposes: ${PURPOSES.join(', ')}`,
    params: { code: 'INSTRUCTION_UNKNOWN_PURPOSE' },
  }),
);

const clockTime = z.string().refine((text) => HH_MM.test(text), {
  error: (issue) => `${quote(issue.input)} is not a 24-hour HH:MM time`,
  params: { code: 'INSTRUCTION_QUIET_HOURS_INVALID' },
});

const quietHoursSchema = z
  .strictObject({
    start: clockTime.describe('Local time the quiet window starts (inclusive), HH:MM.'),
    end: clockTime.describe('Local time the quiet window ends (exclusive), HH:MM; may wrap past midnight.'),
    timeZone: z
      .string()
      .refine(isIanaTimeZone, {
        error: (issue) => `${quote(issue.input)} is not an IANA time zone name such as "Europe/Berlin"`,
        params: { code: 'INSTRUCTION_QUIET_HOURS_INVALID' },
      })
      .describe('IANA time zone the times are read in.'),
    action: z
      .enum(['hold', 'reject'])
      .describe('hold: send when the window ends; reject: refuse the message with a terminal status.'),
  })
  .check((ctx) => {
    const { start, end } = ctx.value;
    // start == end is either "never" or "always": ambiguous, so the controller must say what it means.
    if (HH_MM.test(start) && start === end) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['end'],
        message: 'quiet hours must end at a different time than they start',
        params: { code: 'INSTRUCTION_QUIET_HOURS_INVALID' },
      });
    }
  });

/**
 * The instruction document a controller publishes. Context-free rules live here (so the schema alone is a
 * complete description for docs and clients); rules that need the registry, region or clock live in
 * validateInstruction.
 */
export const instructionSchema = z
  .strictObject({
    purposes: z.array(purposeSchema).min(1).describe('Purposes personal data may be processed for.'),
    subprocessors: z
      .array(subprocessorName)
      .min(1)
      .check((ctx) => {
        const seen = new Set<string>();
        ctx.value.forEach((name, index) => {
          if (seen.has(name)) {
            ctx.issues.push({
              code: 'custom',
              input: name,
              path: [index],
              message: `subprocessor ${quote(name)} is listed more than once; list each carrier once, primary first`,
              params: { code: 'INSTRUCTION_DUPLICATE_SUBPROCESSOR' },
            });
          }
          seen.add(name);
        });
      })
      .describe('SMS route in order of preference: primary first, then failovers.'),
    retention: z
      .strictObject({
        contentDays: z.int().min(0).describe('Days message content is kept, when it is stored at all.'),
        metadataDays: z.int().min(0).describe('Days delivery metadata (status, timestamps) is kept.'),
      })
      .describe('Retention periods, in days.'),
    storeContentAfterDispatch: z
      .boolean()
      .describe('Whether message content is kept (encrypted) once the carrier accepted it.'),
    quietHours: quietHoursSchema.optional().describe('Local hours in which no message is sent.'),
    transferMechanisms: z
      .record(subprocessorName, z.enum(TRANSFER_MECHANISMS))
      .optional()
      .describe('Per subprocessor, the safeguard for processing outside the home region.'),
  })
  .describe('Documented instructions of a controller (DPA §3).');

/** A schema-valid instruction document. */
export type Instruction = z.infer<typeof instructionSchema>;

/** What validateInstruction needs besides the document. */
export interface InstructionContext {
  /** The controller's home region (fixed at onboarding, never taken from the document). */
  readonly homeRegion: Region;
  readonly now: Date;
  readonly maxRetentionDays: { readonly content: number; readonly metadata: number };
  /** Defaults to the built-in registry; injectable for tests with a fake clock. */
  readonly registry?: SubprocessorRegistry;
}

/** Outcome of validateInstruction. */
export type InstructionValidation =
  | { readonly ok: true; readonly instruction: Instruction }
  | { readonly ok: false; readonly notice: InstructionNotice };

/** Thrown where an already-validated instruction is required but the value does not pass the schema. */
export class InvalidInstructionError extends PrivacyError {
  override readonly name = 'InvalidInstructionError';
  override readonly code = 'PRIVACY_INSTRUCTION_INVALID';
  readonly problems: readonly InstructionProblem[];
  constructor(problems: readonly InstructionProblem[]) {
    super(
      `instruction is invalid: ${problems.map((p) => `${p.path || '(document)'}: ${p.message}`).join('; ')}`,
    );
    this.problems = problems;
  }
}

type Segments = readonly PropertyKey[];
interface RawProblem {
  readonly code: InstructionProblemCode;
  readonly segments: Segments;
  readonly message: string;
}

const FIELD_ORDER: readonly string[] = Object.keys(instructionSchema.shape);

/** Renders `['subprocessors', 1]` as `subprocessors[1]` and odd keys as `transferMechanisms["a.b"]`. */
function formatPath(segments: Segments): string {
  let path = '';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(String(segment)))
      path += path === '' ? String(segment) : `.${String(segment)}`;
    else path += `[${JSON.stringify(String(segment))}]`;
  }
  return path;
}

function isProblemCode(value: unknown): value is InstructionProblemCode {
  return typeof value === 'string' && Object.hasOwn(INSTRUCTION_PROBLEM_CODES, value);
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  int: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  string: 'text',
  array: 'a list',
  object: 'an object',
  record: 'an object',
};

/**
 * Zod's default messages speak TypeScript ("expected int, received undefined"); the notice goes to a
 * customer's admin, so schema problems are phrased for them, relative to the path they are shown after.
 */
const customerMessages: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return `must list at least ${min} ${min === 1 ? 'entry' : 'entries'}`;
      if (issue.origin === 'string')
        return min === 1 ? 'must not be empty' : `must have at least ${min} characters`;
      return `must be at least ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'string') return `must have at most ${max} characters`;
      if (issue.origin === 'array') return `must list at most ${max} entries`;
      return `must be at most ${max}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'invalid_key':
      return 'is not a valid subprocessor name';
    default:
      return undefined;
  }
};

function schemaProblems(error: z.ZodError): RawProblem[] {
  const problems: RawProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      // One problem per key, located at the key, so each can be pointed at in a form.
      for (const key of issue.keys) {
        problems.push({
          code: 'INSTRUCTION_SCHEMA_INVALID',
          segments: [...issue.path, key],
          message: `${quote(key)} is not a field of ${issue.path.length === 0 ? 'the instruction' : formatPath(issue.path)}`,
        });
      }
      continue;
    }
    const code = issue.code === 'custom' ? issue.params?.code : undefined;
    if (isProblemCode(code)) {
      problems.push({ code, segments: issue.path, message: issue.message });
    } else {
      const subject = issue.path.length === 0 ? 'the instruction' : formatPath(issue.path);
      problems.push({
        code: 'INSTRUCTION_SCHEMA_INVALID',
        segments: issue.path,
        message: `${subject} ${issue.message}`,
      });
    }
  }
  return problems;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Rules that need the registry, home region, clock or limits. They read the raw document field by field,
 * checking only values that passed their own schema, so a schema error elsewhere does not hide them.
 */
function contextProblems(doc: Record<string, unknown>, context: InstructionContext): RawProblem[] {
  const problems: RawProblem[] = [];
  const registry = context.registry ?? SUBPROCESSORS;
  const { homeRegion, now } = context;
  const mechanisms = isPlainObject(doc.transferMechanisms) ? doc.transferMechanisms : {};

  const seen = new Set<string>();
  const route = Array.isArray(doc.subprocessors) ? (doc.subprocessors as unknown[]) : [];
  route.forEach((name, index) => {
    if (!subprocessorName.safeParse(name).success || seen.has(name as string)) return;
    seen.add(name as string);
    problems.push(...subprocessorProblems(name as string, ['subprocessors', index]));
  });

  // A mechanism for a name we do not know is most likely a typo that leaves the real carrier uncovered.
  for (const name of Object.keys(mechanisms)) {
    if (subprocessorName.safeParse(name).success && subprocessorStatus(name, now, registry) === 'unknown') {
      problems.push({
        code: 'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
        segments: ['transferMechanisms', name],
        message: `${quote(name)} is not on our subprocessor list`,
      });
    }
  }

  const retention = isPlainObject(doc.retention) ? doc.retention : {};
  const limits = [
    ['contentDays', 'content', context.maxRetentionDays.content],
    ['metadataDays', 'metadata', context.maxRetentionDays.metadata],
  ] as const;
  for (const [field, what, max] of limits) {
    const days = retention[field];
    if (typeof days === 'number' && Number.isSafeInteger(days) && days > max) {
      problems.push({
        code: 'INSTRUCTION_RETENTION_TOO_LONG',
        segments: ['retention', field],
        message: `${what} retention of ${days} days exceeds the maximum of ${max} days`,
      });
    }
  }
  return problems;

  function subprocessorProblems(name: string, segments: Segments): RawProblem[] {
    const status = subprocessorStatus(name, now, registry);
    const entry = findSubprocessor(name, registry);
    if (status === 'unknown' || entry === undefined) {
      return [
        {
          code: 'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
          segments,
          message: `${quote(name)} is not on our subprocessor list`,
        },
      ];
    }
    const found: RawProblem[] = [];
    if (status === 'noticed') {
      found.push({
        code: 'INSTRUCTION_SUBPROCESSOR_NOT_EFFECTIVE',
        segments,
        message:
          `${quote(name)} was announced on ${entry.noticeDate} and may only be used from ` +
          `${entry.effectiveDate}, when its notice period ends`,
      });
    }
    if (entry.regions[homeRegion] === undefined) {
      found.push({
        code: 'INSTRUCTION_SUBPROCESSOR_REGION',
        segments,
        message: `${quote(name)} does not serve the ${homeRegion} region`,
      });
      return found;
    }
    if (processesOutsideRegion(entry, homeRegion)) {
      const mechanism = Object.hasOwn(mechanisms, name) ? mechanisms[name] : undefined;
      const location = entry.regions[homeRegion]?.location ?? '';
      if (mechanism === undefined) {
        found.push({
          code: 'INSTRUCTION_TRANSFER_MECHANISM_REQUIRED',
          segments: ['transferMechanisms', name],
          message:
            `${quote(name)} processes ${homeRegion} data in ${location}, outside the ${homeRegion} region; ` +
            `name a transfer mechanism (${entry.transferMechanisms.join(', ') || 'none is available'})`,
        });
      } else if (isTransferMechanism(mechanism) && !entry.transferMechanisms.includes(mechanism)) {
        found.push({
          code: 'INSTRUCTION_TRANSFER_MECHANISM_UNAVAILABLE',
          segments: ['transferMechanisms', name],
          message:
            `${quote(mechanism)} is not in place with ${quote(name)}; ` +
            `available: ${entry.transferMechanisms.join(', ') || 'none'}`,
        });
      }
    }
    return found;
  }
}

/** Sets (purposes) sorted and deduplicated, empty optional maps dropped: equal meaning, equal document. */
export function normaliseInstruction(instruction: Instruction): Instruction {
  const normalised: Instruction = {
    purposes: [...new Set(instruction.purposes)].sort(),
    subprocessors: [...instruction.subprocessors], // order is meaning: primary first
    retention: {
      contentDays: instruction.retention.contentDays,
      metadataDays: instruction.retention.metadataDays,
    },
    storeContentAfterDispatch: instruction.storeContentAfterDispatch,
  };
  if (instruction.quietHours !== undefined) normalised.quietHours = { ...instruction.quietHours };
  const mechanisms = instruction.transferMechanisms;
  if (mechanisms !== undefined && Object.keys(mechanisms).length > 0) {
    normalised.transferMechanisms = { ...mechanisms };
  }
  return normalised;
}

/** Parses a document against the schema only; throws InvalidInstructionError, returns it normalised. */
export function parseInstruction(doc: unknown): Instruction {
  const parsed = instructionSchema.safeParse(doc, { error: customerMessages });
  if (!parsed.success) throw new InvalidInstructionError(toProblems(schemaProblems(parsed.error)));
  return normaliseInstruction(parsed.data);
}

function toProblems(raw: readonly RawProblem[]): InstructionProblem[] {
  // Stable sort by document field, then list position, so the notice reads top to bottom like the document.
  const rank = (problem: RawProblem) => {
    const index = FIELD_ORDER.indexOf(String(problem.segments[0]));
    return index === -1 ? FIELD_ORDER.length : index;
  };
  const position = (problem: RawProblem) => {
    const index = problem.segments[1];
    return typeof index === 'number' ? index : -1;
  };
  return [...raw]
    .sort((a, b) => rank(a) - rank(b) || position(a) - position(b))
    .map((problem) => ({ code: problem.code, path: formatPath(problem.segments), message: problem.message }));
}

/**
 * Validates an instruction at registration (deny by default): either the normalised instruction, or the
 * DPA §3 notice listing every problem found, so the controller can fix them all in one round.
 */
export function validateInstruction(doc: unknown, context: InstructionContext): InstructionValidation {
  const parsed = instructionSchema.safeParse(doc, { error: customerMessages });
  const raw = [
    ...(parsed.success ? [] : schemaProblems(parsed.error)),
    ...(isPlainObject(doc) ? contextProblems(doc, context) : []),
  ];
  if (parsed.success && raw.length === 0) return { ok: true, instruction: normaliseInstruction(parsed.data) };
  const problems = toProblems(raw);
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return {
    ok: false,
    notice: {
      summary:
        `The instruction was not accepted (${count}). MassiveSMS processes personal data only on valid ` +
        'instructions (DPA §3); the previous instruction, if any, stays in force.',
      problems,
    },
  };
}
