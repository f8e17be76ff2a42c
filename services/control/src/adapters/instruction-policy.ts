import {
  canonicalJson,
  instructionHash,
  instructionSchema,
  publicSubprocessorList,
  type SubprocessorRegistry,
  validateInstruction,
} from '@massivesms/privacy';
import type { InstructionPolicy } from '../application/instruction-policy.ts';

/** The instruction document schema (for the OpenAPI document). */
export const instructionDocumentSchema = instructionSchema;

/** Instruction rules of libs/privacy: vocabulary, subprocessor registry, regions, legal retention maxima. */
export function privacyInstructionPolicy(
  maxRetentionDays: { content: number; metadata: number },
  registry?: SubprocessorRegistry,
): InstructionPolicy {
  return {
    validate(document, homeRegion, now) {
      const verdict = validateInstruction(document, {
        homeRegion,
        now,
        maxRetentionDays,
        ...(registry ? { registry } : {}),
      });
      if (!verdict.ok) return { ok: false, problems: verdict.notice.problems };
      return {
        ok: true,
        document: JSON.parse(canonicalJson(verdict.instruction)) as Record<string, unknown>,
        sha256: instructionHash(verdict.instruction),
      };
    },
  };
}

/** `GET /v1/subprocessors`: the public list generated from the registry in code. */
export function publicSubprocessors(now: Date, registry?: SubprocessorRegistry): Record<string, unknown>[] {
  return publicSubprocessorList(now, registry) as unknown as Record<string, unknown>[];
}
