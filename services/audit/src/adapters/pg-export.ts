// What the control plane asks of the ledger for one controller (DPA §10 audits, Art. 30(2) records):
// a verifiable export bundle and a summary of the operations recorded. The audit service's code over
// its own tables, handed to the control plane as a port (as the webhooks service does with recovery).
import type { Db } from '@massivesms/db';
import {
  consistencyProofRanges,
  hashFromNodes,
  inclusionProofRanges,
  type LeafRange,
  type NodeId,
  nodeKey,
  nodesForRanges,
  rangeNodes,
  sha256,
  signNoteWith,
  toBase64,
  toHex,
} from '@massivesms/ledger';
import {
  canonicalText,
  EXPORT_FORMAT,
  type ExportManifest,
  encodeBundle,
  manifestSignedText,
} from '../export/bundle.ts';
import { type CheckpointSigner, nodeReader, readCheckpoints } from './pg-tree.ts';

/** A period of processing: events that occurred in [from, to). */
export interface Period {
  readonly from: Date;
  readonly to: Date;
}

export type AuditExportResult =
  | { readonly kind: 'bundle'; readonly bytes: Uint8Array; readonly manifest: ExportManifest }
  /** No checkpoint is signed yet, so nothing can be proven; try again after AUDIT_CHECKPOINT_INTERVAL_MS. */
  | { readonly kind: 'not_checkpointed' }
  | { readonly kind: 'too_large'; readonly entries: number; readonly max: number };

/** Operations recorded for a controller in a period, grouped as Art. 30(2) lists them. */
export interface ProcessingSummary {
  readonly origin: string;
  readonly entries: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly operations: readonly {
    readonly service: string;
    readonly operation: string;
    readonly outcome: string;
    readonly dataCategories: readonly string[];
    readonly purposes: readonly string[];
    readonly count: number;
  }[];
  readonly subprocessors: readonly {
    readonly subprocessor: string;
    readonly region: string;
    readonly transferMechanism: string | null;
    readonly count: number;
  }[];
}

/** Node reads per query when proving many entries. */
const PROOF_CHUNK = 500;

export class LedgerExports {
  readonly #db: Db;
  readonly #signer: CheckpointSigner;
  readonly #cell: string;
  readonly #maxEntries: number;
  readonly #now: () => Date;

  constructor(
    db: Db,
    signer: CheckpointSigner,
    options: { cell: string; maxEntries?: number; now?: () => Date },
  ) {
    this.#db = db;
    this.#signer = signer;
    this.#cell = options.cell;
    this.#maxEntries = options.maxEntries ?? 200_000;
    this.#now = options.now ?? (() => new Date());
  }

  /** The ledger's log origin (the signing key's name). */
  get origin(): string {
    return this.#signer.name;
  }

  /** The verifier key to publish: checkpoints and exports verify against it. */
  get verifierKey(): string {
    return this.#signer.verifierKey;
  }

  /** The newest signed checkpoint (what a deletion certificate names), or null before the first. */
  async latestCheckpoint(): Promise<{
    origin: string;
    treeSize: number;
    rootHash: string;
    signedAt: string;
    note: string;
  } | null> {
    const [newest] = await this.#db.transaction((tx) => readCheckpoints(tx, { limit: 1, newestFirst: true }));
    if (!newest) return null;
    return {
      origin: this.origin,
      treeSize: newest.treeSize,
      rootHash: toBase64(newest.rootHash),
      signedAt: newest.signedAt.toISOString(),
      note: newest.note,
    };
  }

  /**
   * The controller's entries in the period, each with its inclusion proof against the newest signed
   * checkpoint; the checkpoint that first covered the period's last entry too, with a consistency proof
   * to the newest. Entries appended after the newest checkpoint are left for the next export.
   */
  async exportBundle(controllerId: string, period: Period): Promise<AuditExportResult> {
    const db = this.#db;
    const [head] = await readCheckpoints(db, { newestFirst: true, limit: 1 });
    if (!head) return { kind: 'not_checkpointed' };
    const where = 'controller_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND seq <= $4';
    const params = [controllerId, period.from, period.to, head.treeSize];
    const { rows: counted } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_ledger WHERE ${where}`,
      params,
    );
    const total = Number(counted[0]!.n);
    if (total > this.#maxEntries) return { kind: 'too_large', entries: total, max: this.#maxEntries };
    const { rows } = await db.query<{ seq: string; entry: Uint8Array }>(
      `SELECT seq, entry FROM audit_ledger WHERE ${where} ORDER BY seq`,
      params,
    );
    const entries = rows.map((r) => ({ seq: Number(r.seq), entry: new Uint8Array(r.entry) }));
    const lines: string[] = [];
    for (let i = 0; i < entries.length; i += PROOF_CHUNK) {
      const chunk = entries.slice(i, i + PROOF_CHUNK);
      const proofs = await this.#prove(chunk.map((e) => inclusionProofRanges(e.seq - 1, head.treeSize)));
      chunk.forEach((e, j) => {
        lines.push(
          canonicalText({
            seq: e.seq,
            leafIndex: e.seq - 1,
            entry: toBase64(e.entry),
            proof: proofs[j]!.map(toBase64),
          }),
        );
      });
    }
    // The first signed head that held the period's last entry, proven to be a prefix of the newest.
    const last = entries.at(-1)?.seq;
    const [covering] = last === undefined ? [] : await readCheckpoints(db, { from: last, limit: 1 });
    const included = covering && covering.treeSize < head.treeSize ? [covering, head] : [head];
    const consistency =
      included.length === 2
        ? [
            {
              from: included[0]!.treeSize,
              to: head.treeSize,
              proof: (
                await this.#prove([consistencyProofRanges(included[0]!.treeSize, head.treeSize)])
              )[0]!.map(toBase64),
            },
          ]
        : [];
    const files: Record<string, string> = {
      'entries.jsonl': lines.map((line) => `${line}\n`).join(''),
      'key.txt': `${this.#signer.verifierKey}\n`,
    };
    for (const cp of included) files[`checkpoints/${cp.treeSize}.txt`] = cp.note;
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      origin: this.#signer.name,
      cell: this.#cell,
      controllerId,
      period: { from: period.from.toISOString(), to: period.to.toISOString() },
      generatedAt: this.#now().toISOString(),
      entries: entries.length,
      firstSeq: entries[0]?.seq ?? null,
      lastSeq: last ?? null,
      head: head.treeSize,
      checkpoints: included.map((cp) => cp.treeSize),
      consistency,
      files: Object.fromEntries(
        Object.entries(files).map(([name, text]) => [name, toHex(sha256(Buffer.from(text, 'utf8')))]),
      ),
    };
    const manifestText = canonicalText(manifest);
    files['manifest.json'] = manifestText;
    files['manifest.sig'] = await signNoteWith(
      manifestSignedText(this.#signer.name, Buffer.from(manifestText, 'utf8')),
      this.#signer,
    );
    return { kind: 'bundle', bytes: encodeBundle(files), manifest };
  }

  /** What the ledger recorded for the controller in the period, grouped by operation and by subprocessor. */
  async processingSummary(controllerId: string, period: Period): Promise<ProcessingSummary> {
    const params = [controllerId, period.from, period.to];
    const from = `FROM audit_ledger, LATERAL (SELECT convert_from(entry, 'UTF8')::jsonb AS e) j
                  WHERE controller_id = $1 AND occurred_at >= $2 AND occurred_at < $3`;
    const [range, operations, subprocessors] = await Promise.all([
      this.#db.query<{ n: string; first: string | null; last: string | null }>(
        `SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM audit_ledger
          WHERE controller_id = $1 AND occurred_at >= $2 AND occurred_at < $3`,
        params,
      ),
      this.#db.query<{
        service: string;
        operation: string;
        outcome: string;
        purposes: string[] | null;
        n: string;
      }>(
        `SELECT e->>'service' AS service, e->>'operation' AS operation, e->>'outcome' AS outcome,
                array_agg(DISTINCT e->>'purpose') FILTER (WHERE e ? 'purpose') AS purposes,
                count(*) AS n
           ${from}
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        params,
      ),
      this.#db.query<{ subprocessor: string; region: string; mechanism: string | null; n: string }>(
        `SELECT e->>'subprocessor' AS subprocessor, e->>'region' AS region,
                e->>'transferMechanism' AS mechanism, count(*) AS n
           ${from} AND e ? 'subprocessor'
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        params,
      ),
    ]);
    const categories = await this.#db.query<{
      service: string;
      operation: string;
      outcome: string;
      c: string;
    }>(
      `SELECT DISTINCT e->>'service' AS service, e->>'operation' AS operation, e->>'outcome' AS outcome, c
         FROM audit_ledger, LATERAL (SELECT convert_from(entry, 'UTF8')::jsonb AS e) j,
              LATERAL jsonb_array_elements_text(e->'dataCategories') c
        WHERE controller_id = $1 AND occurred_at >= $2 AND occurred_at < $3
        ORDER BY 1, 2, 3, 4`,
      params,
    );
    const byOperation = new Map<string, string[]>();
    for (const r of categories.rows) {
      const key = `${r.service}/${r.operation}/${r.outcome}`;
      byOperation.set(key, [...(byOperation.get(key) ?? []), r.c]);
    }
    const r = range.rows[0]!;
    return {
      origin: this.#signer.name,
      entries: Number(r.n),
      firstSeq: r.first === null ? null : Number(r.first),
      lastSeq: r.last === null ? null : Number(r.last),
      operations: operations.rows.map((o) => ({
        service: o.service,
        operation: o.operation,
        outcome: o.outcome,
        dataCategories: byOperation.get(`${o.service}/${o.operation}/${o.outcome}`) ?? [],
        purposes: (o.purposes ?? []).sort(),
        count: Number(o.n),
      })),
      subprocessors: subprocessors.rows.map((s) => ({
        subprocessor: s.subprocessor,
        region: s.region,
        transferMechanism: s.mechanism,
        count: Number(s.n),
      })),
    };
  }

  /** Hashes for many proofs (lists of ranges), reading the nodes they need in one query. */
  async #prove(proofs: readonly (readonly LeafRange[])[]): Promise<Uint8Array[][]> {
    const ids: NodeId[] = nodesForRanges(proofs.flat());
    const hashes = ids.length === 0 ? [] : await nodeReader(this.#db)(ids);
    const byKey = new Map(ids.map((id, i) => [nodeKey(id), hashes[i]!]));
    return proofs.map((ranges) =>
      ranges.map((range) =>
        hashFromNodes(rangeNodes(range.start, range.end).map((id) => byKey.get(nodeKey(id))!)),
      ),
    );
  }
}
