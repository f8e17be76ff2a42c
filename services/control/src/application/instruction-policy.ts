import type { Cell } from '@massivesms/contracts';

/** One reason the processor must not follow an instruction (DPA §3 notice to the controller). */
export interface InstructionProblem {
  readonly code: string;
  readonly path: string;
  readonly message: string;
}

/** Decides whether an instruction document may be published, and its canonical form and hash. */
export interface InstructionPolicy {
  validate(
    document: unknown,
    homeRegion: Cell,
    now: Date,
  ):
    | { ok: true; document: Record<string, unknown>; sha256: string }
    | { ok: false; problems: readonly InstructionProblem[] };
}
