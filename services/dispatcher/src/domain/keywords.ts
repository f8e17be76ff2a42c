/** What an inbound message asks for (carriers.md: opt-out and opt-in keywords of both carriers). */
export type InboundKeyword = 'stop' | 'start' | 'help';

const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE']);
const START = new Set(['START', 'UNSTOP', 'YES']);

/** The keyword of an inbound text: the whole message, trimmed, case-insensitive ("stop please" is not STOP). */
export function inboundKeyword(text: string): InboundKeyword | undefined {
  const word = text.trim().toUpperCase();
  if (STOP.has(word)) return 'stop';
  if (START.has(word)) return 'start';
  if (word === 'HELP' || word === 'INFO') return 'help';
  return undefined;
}

/** The answer to HELP (carriers require one): who sends, and how to stop. No personal data. */
export const HELP_TEXT =
  'MassiveSMS sends these messages for the sender named in them. Reply STOP to opt out.';
