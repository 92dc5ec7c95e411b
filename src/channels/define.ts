import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Channel, ChannelContext } from '../core/channel.js';
import type { MediaContent, MediaContext } from '../core/media.js';
import type { ChatMessage, MediaRef } from '../core/message.js';
import type { QuoteContext, QuotedMessage } from '../core/quote.js';
import type { LoginContext, LoginFlow } from './login.js';

/** What a channel can do; the outbox, the docs table and the panel read it. */
export interface ChannelCapabilities {
  /** Inbound message kinds it turns into ChatMessages. */
  receives: readonly ('text' | 'image' | 'voice' | 'video' | 'file' | 'location' | 'link' | 'event')[];
  /** Renders markdown replies; otherwise markdown is turned into plain text before sending. */
  markdown: boolean;
  /** Longest reply chunk the platform accepts, in UTF-8 bytes; longer replies are split. None: no limit. */
  maxMessageBytes?: number;
  /** Longest reply chunk in characters (code points), for platforms that count those; longer replies are split. */
  maxMessageChars?: number;
  /** Answers in group chats (only when addressed, as the channel's config says). */
  groups?: boolean;
  /** Replies in the platform's thread of the message they answer. */
  threads?: boolean;
  /**
   * Sends the images in an agent's answer (`OutgoingMessage.image`), each as a message of its own.
   * Without it, their links go in the text.
   */
  sendsImages: boolean;
  /** Shows a reply while a streaming agent writes it: the channel overrides `startPreview(message)`. */
  streaming: boolean;
  /** Shows "typing…" while the agent works: the channel overrides `startTyping(message)`. */
  typing: boolean;
  /** Needs a public URL the platform can call (webhook channels). */
  webhook: boolean;
  /**
   * One reply may answer several messages of a conversation (a profile's `debounce`): nothing on the
   * platform's side waits for an answer to each message (as a held webhook request or a client's
   * `?wait=true` does). Without it, every message gets its own answer.
   */
  mergesBursts?: boolean;
  /**
   * The platform says when a user recalls a message, and the channel notes it (`noteRecall` in
   * `core/recall.ts`): a recalled message the agent has not answered yet gets no answer.
   */
  recalls?: boolean;
}

/**
 * Lets a channel type serve HTTP: its routes are registered once at server build, and look up the
 * running instance of an entry by key on every request (entries come and go without a restart).
 */
export interface ChannelRoutesHost<C extends Channel = Channel> {
  /** The running instance of an entry of this channel type, or a CocoError (404 unknown, 503 not running). */
  lookup(entryKey: string): C;
}

export interface ChannelDefinition<Schema extends z.ZodType = z.ZodType, C extends Channel = Channel> {
  type: string;
  displayName: string;
  description: string;
  /** Name and description in other languages, for the panel (`zh`: Chinese); the English ones where missing. */
  translations?: { zh?: { displayName?: string; description: string } };
  /** Validates an entry's config; fields marked with `secret()` are write-only in the admin API. */
  configSchema: Schema;
  capabilities: ChannelCapabilities;
  /**
   * The platform keeps one connection per bot and drops the older one when another opens. With
   * several gateway processes on a shared store, only the process holding the entry's lease runs
   * it; the others stand by and take over when that lease runs out (`limits.lease_ms`).
   */
  exclusive?: boolean;
  create(ctx: ChannelContext): C;
  /**
   * For channels whose credentials come from scanning a QR code: starts a login with the entry's
   * current (unresolved) config; resolves once there is a code to show. The admin API runs it and
   * writes the confirmed result into the entry (see `login.ts`).
   */
  login?(config: Record<string, unknown>, ctx: LoginContext): Promise<LoginFlow>;
  /**
   * Downloads media a user sent (decrypting it where the platform encrypts), for agents that read
   * images. Declared on the type, not the instance: any gateway process may run the message's agent,
   * also one standing by for an exclusive entry. Throws a CocoError (`retryable` when worth a second try).
   */
  fetchMedia?(media: MediaRef, ctx: MediaContext<z.infer<Schema>>): Promise<MediaContent>;
  /**
   * What the message `message` answers says, where the platform sends only its id (a Feishu reply
   * names its parent): read before the agent runs; its words go under the user's text as a quote,
   * its media (each naming its message in `messageId`) join the message's own.
   * Undefined when the message quotes nothing. Declared on the type, like `fetchMedia`: any gateway
   * process may run the agent. Throws a CocoError when the platform refuses; the agent then answers
   * without the quote.
   */
  fetchQuote?(message: ChatMessage, ctx: QuoteContext<z.infer<Schema>>): Promise<QuotedMessage | undefined>;
  /**
   * How long the platform serves what users send (a WeCom robot's image URL: 5 minutes). Set, the
   * gateway downloads a message's images as soon as it is stored and keeps them with it, so a
   * message that waits longer still has them. Leave it out where media lasts days.
   */
  mediaLifetimeMs?: number;
  /**
   * For a channel where `capabilities.mergesBursts` depends on the entry's config: whether one reply
   * may answer several messages with this config (`wechat_mp`: in `customer_service` reply mode,
   * where no request waits for an answer).
   */
  mergesBurstsWith?(config: z.infer<Schema>): boolean;
  routes?(app: FastifyInstance, host: ChannelRoutesHost<C>): void;
  /**
   * For channels the platform calls: the path of an entry's webhook, which the panel shows as
   * `server.public_url` + path to paste into the platform's console. Undefined when this entry's
   * config needs none (e.g. Feishu over its long connection).
   */
  webhookPath?(entryKey: string, config: z.input<Schema>): string | undefined;
}

/** Declares a channel type in one place: type, name, config schema, capabilities, class. */
export function defineChannel<Schema extends z.ZodType, C extends Channel<z.infer<Schema>>>(
  definition: ChannelDefinition<Schema, C>,
): ChannelDefinition<Schema, C> {
  return definition;
}

/** The catalog entry served by `GET /api/admin/channel-types`. */
export function describeChannel(def: ChannelDefinition) {
  return {
    type: def.type,
    displayName: def.displayName,
    description: def.description,
    translations: def.translations ?? {},
    capabilities: def.capabilities,
    /** The panel offers "Log in" (a QR code to scan) on entries of this type. */
    login: def.login !== undefined,
    /** Images users send reach agents that read them (`images: true`). */
    media: def.fetchMedia !== undefined,
    configSchema: z.toJSONSchema(def.configSchema, { io: 'input', unrepresentable: 'any' }),
  };
}
