import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { countByState, type EntryState } from '../core/entry-status.js';
import type { OldestWaiting, StoreStats } from '../store/store.js';

export interface MetricSources {
  storeStats(): Promise<StoreStats>;
  oldestWaiting(): Promise<OldestWaiting>;
  entryStates(): EntryState[];
  /** The gateway's clock, which the store's times come from. */
  now(): number;
}

/** The gateway's Prometheus metrics; one registry per gateway so tests can run several. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly received = this.counter('cococat_messages_received_total', 'Inbound messages accepted into the mailbox', ['channel']);
  readonly deduplicated = this.counter('cococat_messages_deduplicated_total', 'Inbound redeliveries dropped as duplicates', ['channel']);
  readonly processed = this.counter('cococat_messages_processed_total', 'Inbound messages answered by their agent', ['channel']);
  readonly failed = this.counter(
    'cococat_messages_failed_total',
    'Inbound messages answered with the fallback reply or dead-lettered',
    ['channel', 'reason'],
  );
  readonly outboxSent = this.counter('cococat_outbox_sent_total', 'Reply chunks delivered', ['channel']);
  readonly outboxRetries = this.counter('cococat_outbox_retries_total', 'Reply chunk deliveries retried', ['channel']);
  readonly outboxDead = this.counter('cococat_outbox_dead_letters_total', 'Reply chunks given up on', ['channel']);
  readonly limited = this.counter('cococat_messages_limited_total', 'Inbound messages not answered by the agent because their user was over the user limit', ['channel']);
  readonly refused = this.counter('cococat_messages_refused_total', 'Inbound messages not answered by the agent because its profile\'s access refuses their sender', ['channel']);
  readonly pairing = this.counter('cococat_pairing_total', 'Pairing requests: codes given to strangers (requested), and codes approved or rejected by an operator', ['channel', 'event']);
  readonly filtered = this.counter('cococat_content_filtered_total', 'Messages not given to the agent (incoming) and answers masked or replaced (outgoing) for a filtered word of the profile\'s content_filter', ['channel', 'direction']);
  readonly keywordReplies = this.counter('cococat_keyword_replies_total', 'Inbound messages answered by a keyword reply of their agent\'s profile, without the agent', ['channel']);
  readonly notices = this.counter('cococat_notices_total', 'Notices to the team (notify), by event and outcome: sent, retried (the receiver failed; tried again later) or failed (given up: not delivered within an hour)', ['event', 'outcome']);
  readonly agentFailovers = this.counter('cococat_agent_failovers_total', 'Messages whose agent failed and went to its failover agents, by whether one of them answered', ['outcome']);
  readonly recalled = this.counter('cococat_messages_recalled_total', 'Inbound messages not answered because their sender recalled them first', ['channel']);
  readonly handedOff = this.counter('cococat_messages_handed_off_total', 'Inbound messages left to a person because their conversation was handed over', ['channel']);
  readonly handoffs = this.counter('cococat_handoffs_total', 'Conversations handed to a person, by who asked (operator, user, agent)', ['channel', 'by']);
  readonly merged = this.counter('cococat_messages_merged_total', 'Inbound messages answered together with an earlier one of their conversation (a profile\'s debounce)', ['channel']);
  readonly mediaDownloads = this.counter('cococat_media_downloads_total', 'Images downloaded for agents that read them, by outcome (ok, failed)', ['channel', 'outcome']);
  readonly agentLatency = new Histogram({
    name: 'cococat_agent_latency_seconds',
    help: 'Time an agent took to answer, retries included',
    labelNames: ['provider', 'outcome'],
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly agentTokens = new Counter({
    name: 'cococat_agent_tokens_total',
    help: 'Tokens the model reported for the answers of each agent (prompt or completion)',
    labelNames: ['agent', 'provider', 'kind'],
    registers: [this.registry],
  });
  readonly agentFirstText = new Histogram({
    name: 'cococat_agent_first_text_seconds',
    help: 'Time until a streaming agent wrote the first text someone watched (streamed answers only)',
    labelNames: ['provider'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /** Read at scrape time: queue depths from the store and entry states from the SceneKeeper. */
  private sources?: MetricSources;
  readonly mailboxDepth: Gauge<'queue'>;
  readonly oldestWaiting: Gauge<'queue'>;
  readonly entries: Gauge<'state'>;

  constructor(withProcessMetrics = true) {
    const metrics = this;
    this.mailboxDepth = new Gauge({
      name: 'cococat_mailbox_depth',
      help: 'Inbound messages waiting or being processed, replies waiting to be sent, dead letters, and notices to the team not yet sent',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        const s = await metrics.sources?.storeStats();
        if (!s) return;
        this.set({ queue: 'inbound_queued' }, s.inboundQueued);
        this.set({ queue: 'inbound_leased' }, s.inboundLeased);
        this.set({ queue: 'outbound_pending' }, s.outboundPending + s.outboundLeased);
        this.set({ queue: 'dead_letters' }, s.inboundDead + s.outboundDead);
        this.set({ queue: 'notices' }, s.noticesWaiting);
      },
    });
    // What an alert on "someone waits too long" reads: a stuck agent or channel shows here first.
    this.oldestWaiting = new Gauge({
      name: 'cococat_oldest_waiting_seconds',
      help: 'Age of the oldest inbound message not yet answered (inbound) and of the oldest reply chunk not yet delivered (outbound); 0 when none',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        const sources = metrics.sources;
        if (!sources) return;
        const oldest = await sources.oldestWaiting();
        const age = (at: number | null) => (at === null ? 0 : Math.max(0, (sources.now() - at) / 1000));
        this.set({ queue: 'inbound' }, age(oldest.inboundAt));
        this.set({ queue: 'outbound' }, age(oldest.outboundAt));
      },
    });
    this.entries = new Gauge({
      name: 'cococat_entries',
      help: 'Entries by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        for (const [state, n] of Object.entries(countByState(metrics.sources?.entryStates() ?? []))) this.set({ state }, n);
      },
    });
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'cococat_' });
  }

  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  private counter(name: string, help: string, labelNames: string[]) {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
