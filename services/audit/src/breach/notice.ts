// The draft breach notification (GDPR Art. 33(3) contents; the processor's duty to tell each
// controller, DPA §9 and Art. 33(2)) in Markdown, from a breach scope. One section per controller, each
// complete on its own (split at the rules to send each controller only its own figures). Figures,
// pseudonymous facts and the configured contact only: no number, name or body can reach it.
import type { BreachScope, CategoryScope, ControllerScope } from './scope.ts';

export interface NoticeText {
  /** The data protection contact point (AUDIT_PRIVACY_CONTACT). */
  readonly contact: string;
  /** What happened, as the operator knows it; a placeholder to fill in otherwise. */
  readonly nature?: string;
  /** Measures taken so far, as the operator knows them; proposals are always listed. */
  readonly measures?: string;
}

const FILL = (what: string) => `**[TO FILL IN: ${what}]**`;

const CONSEQUENCES: Readonly<Record<string, string>> = {
  'user.contact.phone_number':
    'Phone numbers: unsolicited messages or calls, SMS phishing (smishing) that looks like the controller, and linking the number to the controller (which may reveal a relationship with it).',
  'user.content.private':
    'Message content: disclosure of what the controller wrote to the recipient (it may hold names, codes, appointments or other personal details); one-time codes in it may be misused if still valid.',
};

const yesNo = (value: boolean | null) => (value === null ? 'n/a' : value ? 'yes' : '**no**');

/** The scope's object, as a phrase; where a subprocessor processes, for the regions given. */
function subjectOfBreach(scope: BreachScope, regions?: readonly string[]): string {
  const { target, subprocessor } = scope;
  if (target.kind === 'service') return `the MassiveSMS \`${target.name}\` service`;
  if (!subprocessor) return `subprocessor **${target.name}** (not in the current subprocessor registry)`;
  const where = Object.entries(subprocessor.locations)
    .filter(([region]) => regions === undefined || regions.includes(region))
    .map(([, location]) => location);
  return `subprocessor **${target.name}** (${subprocessor.legalEntity}, ${subprocessor.purpose}${
    where.length > 0 ? `; processing in ${where.join(', ')}` : ''
  })`;
}

function categoryRow(c: CategoryScope): string {
  return `| \`${c.category}\` | ${c.records} | ${c.subjects} | ${yesNo(c.encryption.atRest)} | ${yesNo(c.encryption.inTransit)} | ${c.encryption.basis} |`;
}

function controllerSection(scope: BreachScope, c: ControllerScope, text: NoticeText): string {
  const personal = c.categories.filter((k) => CONSEQUENCES[k.category] !== undefined);
  const clear = personal.filter((k) => k.encryption.atRest === false);
  const approx =
    c.recordsWithoutSubject > 0
      ? `approximately **${c.subjects}** data subjects (distinct pseudonymous subjects in the audit ledger), and up to ${c.recordsWithoutSubject} more: that many records name no subject`
      : `approximately **${c.subjects}** data subjects (distinct pseudonymous subjects in the audit ledger)`;
  const operations = c.operations.map((o) => `\`${o.service} ${o.operation}\` ${o.outcome} × ${o.count}`);
  const lines = [
    `# Personal data breach notification to controller \`${c.controllerId}\` (DRAFT)`,
    '',
    `> Draft prepared ${scope.generatedAt} by MassiveSMS, processor, for controller \`${c.controllerId}\` (DPA §9; GDPR Art. 33(2)). ` +
      `Figures from the audit ledger${scope.cell ? ` of cell ${scope.cell}` : ''} (entries 1 to ${scope.ledgerSeq}). ` +
      'Review every section before sending. The controller notifies the supervisory authority within 72 hours of becoming aware (Art. 33(1)); we owe it this notice without undue delay, within 72 hours (DPA §9).',
    '',
    '## 1. Nature of the breach',
    '',
    text.nature?.trim() ||
      FILL('what happened, how it was discovered, when MassiveSMS became aware, whether it is contained'),
    '',
    `- Concerned: ${subjectOfBreach(scope, c.regions)}.`,
    `- Period concerned: ${scope.period.from} to ${scope.period.to} (UTC; the controller's processing recorded there ran from ${c.firstAt} to ${c.lastAt}).`,
    `- Home region of the data: ${c.regions.join(', ')}.${
      c.transfers.length > 0
        ? ` Processed outside it under: ${c.transfers.map((t) => `${t.transferMechanism} (${t.count} records)`).join(', ')}.`
        : ''
    }`,
    `- Operations recorded: ${operations.join('; ')}.`,
    ...(c.instructions.length > 0
      ? [`- Under the controller's instructions: ${c.instructions.map((i) => `\`${i}\``).join(', ')}.`]
      : []),
    '',
    '## 2. Categories and approximate numbers of data subjects and records',
    '',
    "- Categories of data subjects: recipients of the controller's SMS messages (the controller's contacts, DPA §2).",
    `- Number of data subjects: ${approx}.`,
    `- Number of personal data records: **${c.records}** processing records, concerning **${c.messages}** messages.`,
    '',
    '| Data category | Records | Subjects | Encrypted at rest | Encrypted in transit | How |',
    '| --- | --- | --- | --- | --- | --- |',
    ...c.categories.map(categoryRow),
    '',
    '## 3. Likely consequences',
    '',
    ...(personal.length === 0
      ? ["- No category of recipients' personal data is concerned: the records hold pseudonyms and ids only."]
      : personal.map((k) => `- ${CONSEQUENCES[k.category]}`)),
    clear.length > 0
      ? `- ${clear.map((k) => `\`${k.category}\``).join(' and ')} ${clear.length > 1 ? 'were' : 'was'} held in clear where the breach happened: encryption does not reduce the risk.`
      : personal.length > 0
        ? "- The data was encrypted at rest under the controller's key: the risk is low unless the keys (the KMS master key) were exposed too. " +
          FILL('whether any key could have been exposed')
        : '',
    '',
    '## 4. Measures taken or proposed',
    '',
    text.measures?.trim() || FILL('measures already taken'),
    '',
    'Proposed:',
    ...(scope.target.kind === 'subprocessor'
      ? [
          `- Obtain ${scope.subprocessor?.legalEntity ?? scope.target.name}'s incident report (scope, cause, containment) and its confirmation that copies were deleted.`,
          `- Rotate the API credentials MassiveSMS holds with ${scope.target.name}; while the risk lasts, route through the failover carrier (the controller can remove ${scope.target.name} from its instruction's subprocessors).`,
        ]
      : [
          `- Rotate the credentials and keys the \`${scope.target.name}\` service holds; review its access logs for the period.`,
          "- If keys may have been exposed: rotate the KMS master key and the controller's data key.",
        ]),
    '- Recipients who may be targeted by phishing can be warned by the controller (the controller decides, Art. 34).',
    '',
    '## 5. Contact point',
    '',
    `Data protection contact of MassiveSMS: ${text.contact}.`,
    '',
  ];
  return lines.join('\n');
}

/** The draft notice: one self-contained section per controller, separated by rules. */
export function breachNotice(scope: BreachScope, text: NoticeText): string {
  if (scope.controllers.length === 0) {
    return [
      '# Personal data breach scope: no controller concerned (DRAFT)',
      '',
      `The audit ledger${scope.cell ? ` of cell ${scope.cell}` : ''} (entries 1 to ${scope.ledgerSeq}) records no processing by ${subjectOfBreach(scope)} from ${scope.period.from} to ${scope.period.to}: no controller's data is concerned, and no notice is owed for it.`,
      '',
      `Data protection contact of MassiveSMS: ${text.contact}.`,
      '',
    ].join('\n');
  }
  return scope.controllers.map((c) => controllerSection(scope, c, text)).join('\n---\n\n');
}
