import { type PosterOptions, WebhookPoster } from './http.ts';
import { Ledger } from './ledger.ts';
import { MessageWindow } from './retention.ts';

/** What a simulator keeps of its messages: the ledger, lookups by id, receipt posting and, with a window, what bounds them. */
export interface SimulatorStores<M> {
  readonly ledger: Ledger;
  readonly messages: Map<string, M>;
  readonly poster: WebhookPoster;
  /** Only with `retainMessages`: drops the oldest messages from all three together. */
  readonly messageWindow: MessageWindow | undefined;
}

/** The stores of one simulator, unbounded unless `retainMessages` is given (see retention.ts). */
export function simulatorStores<M>(
  retainMessages: number | undefined,
  poster: PosterOptions,
): SimulatorStores<M> {
  const windowed = retainMessages !== undefined;
  const ledger = new Ledger({ forgetting: windowed });
  const messages = new Map<string, M>();
  const webhookPoster = new WebhookPoster(poster, windowed);
  return {
    ledger,
    messages,
    poster: webhookPoster,
    messageWindow: windowed
      ? new MessageWindow(retainMessages, { ledger, deliveries: webhookPoster, messages })
      : undefined,
  };
}
