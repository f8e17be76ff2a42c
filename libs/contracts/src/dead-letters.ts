import { z } from 'zod';

const position = z.strictObject({
  topic: z.string().min(1).max(249),
  partition: z.int().min(0),
  offset: z.string().regex(/^\d+$/),
});

/**
 * `deadletter.replayed.v1`: one dead letter that `massivesms deadletter replay` produced again to its
 * source topic, keyed by the dead letter's `partition:offset`. A replay reads these first and skips
 * what is listed, so running it twice does not duplicate records. No personal data.
 */
export const deadLetterReplaySchema = z
  .strictObject({
    deadLetter: position.describe('Where the dead letter sits on {cell}.deadletter.v1.'),
    source: position.describe('Where the record was read from when it was dead-lettered.'),
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]+$/)
      .describe('Code of the dead letter, for the record.'),
    replayedAt: z.iso.datetime({ offset: true }),
  })
  .describe('A dead letter replayed to its source topic (topic {cell}.deadletter.replayed.v1).');
export type DeadLetterReplay = z.infer<typeof deadLetterReplaySchema>;

/** Kafka key of a replay record: the dead letter's position on its (per-cell) topic. */
export const deadLetterReplayKey = (partition: number, offset: string) => `${partition}:${offset}`;
