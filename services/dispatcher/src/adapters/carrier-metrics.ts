// The dispatcher's carrier metrics: every send by carrier and class (RED of the outbound call),
// failovers, and each breaker as a state set. The cell comes from the registry's default labels.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState } from '../application/carrier-breaker.ts';
import type { CarrierName, CarrierPort } from '../application/ports.ts';
import { classifySendFailure } from '../domain/classify.ts';

const CARRIERS: readonly CarrierName[] = ['telnyx', 'twilio'];
const STATES: readonly BreakerState[] = ['closed', 'open', 'half_open'];
/** A send's `class` label: accepted, a failure class of domain/classify.ts, or error (the call threw). */
const CLASSES = ['accepted', 'not_accepted', 'ambiguous', 'permanent', 'error'] as const;
const CLASS_OF = {
  A_NOT_ACCEPTED: 'not_accepted',
  C_AMBIGUOUS: 'ambiguous',
  D_PERMANENT: 'permanent',
} as const;

/** Registers the carrier metrics; the returned functions feed them. */
export function carrierMetrics(registry: Registry) {
  const sends = new Counter({
    name: 'dispatcher_carrier_sends_total',
    help: 'Carrier send calls by carrier and class: accepted; not_accepted (nothing sent, failover or retry), ambiguous, permanent (see domain/classify.ts); error (the call threw).',
    labelNames: ['carrier', 'class'] as const,
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'dispatcher_carrier_send_duration_seconds',
    help: 'Duration of one carrier send call, by carrier.',
    labelNames: ['carrier'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [registry],
  });
  const failovers = new Counter({
    name: 'dispatcher_carrier_failovers_total',
    help: 'Messages moved from a carrier that did not accept them (or whose breaker is open) to their failover, by carrier left and carrier taken.',
    labelNames: ['carrier', 'to_carrier'] as const,
    registers: [registry],
  });
  const lookups = new Counter({
    name: 'dispatcher_carrier_lookups_total',
    help: 'Status lookups asked of a carrier by reconciliation, by carrier and outcome (ok, error: the carrier could not answer).',
    labelNames: ['carrier', 'outcome'] as const,
    registers: [registry],
  });
  const state = new Gauge({
    name: 'dispatcher_circuit_breaker_state',
    help: 'Circuit breaker of each carrier as a state set: 1 for its current state (closed, open, half_open), 0 for the others.',
    labelNames: ['carrier', 'state'] as const,
    registers: [registry],
  });
  for (const carrier of CARRIERS) {
    for (const c of CLASSES) sends.inc({ carrier, class: c }, 0);
    seconds.zero({ carrier });
    for (const to of CARRIERS) if (to !== carrier) failovers.inc({ carrier, to_carrier: to }, 0);
    for (const outcome of ['ok', 'error']) lookups.inc({ carrier, outcome }, 0);
  }
  const breakerState = (carrier: CarrierName, current: BreakerState) => {
    for (const s of STATES) state.set({ carrier, state: s }, s === current ? 1 : 0);
  };
  for (const carrier of CARRIERS) breakerState(carrier, 'closed');
  return {
    breakerState,
    failedOver: (carrier: CarrierName, to: CarrierName) => failovers.inc({ carrier, to_carrier: to }),
    /** The port with each send counted and timed, and each lookup counted. */
    instrument(port: CarrierPort): CarrierPort {
      const carrier = port.name;
      return {
        name: port.name,
        async lookup(id) {
          try {
            const outcome = await port.lookup(id);
            lookups.inc({ carrier, outcome: 'ok' });
            return outcome;
          } catch (error) {
            lookups.inc({ carrier, outcome: 'error' });
            throw error;
          }
        },
        ...(port.close ? { close: () => port.close!() } : {}),
        async send(sms) {
          const end = seconds.startTimer({ carrier });
          try {
            const outcome = await port.send(sms);
            const cls = outcome.accepted ? 'accepted' : CLASS_OF[classifySendFailure(outcome.failure).class];
            sends.inc({ carrier, class: cls });
            return outcome;
          } catch (error) {
            sends.inc({ carrier, class: 'error' });
            throw error;
          } finally {
            end();
          }
        },
      };
    },
  };
}
