import { describeError } from './errors.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import { fetchMediaItem, inlineMediaRef, isInlineMedia, MAX_FILES, MAX_IMAGES, type MediaFetcher } from './media.js';
import type { ChatMessage, MediaRef } from './message.js';

/**
 * Downloads the images of a message just stored, and its files (voice and video included) when its
 * agent takes them (`files`), and keeps them inline with it (`data:` references), for a channel whose
 * platform serves what users send for minutes only (`mediaLifetimeMs`): a message that waits longer
 * behind others of its conversation, is retried later or is opened in the message log still has
 * them. It runs after the message is stored, so nothing is lost while it downloads. Best effort: an
 * item that does not come keeps its reference, and the agent tries that itself. Returns how many
 * items were kept.
 */
export async function keepMediaOnArrival(
  messageId: string,
  message: ChatMessage,
  fetcher: MediaFetcher,
  deps: { keep: (messageId: string, media: MediaRef[]) => Promise<boolean>; clock: Clock; log: Logger; signal: AbortSignal },
  opts: { files: boolean },
): Promise<number> {
  const media = message.media ?? [];
  let images = 0;
  let files = 0;
  // As many of each as an agent would get (the rest it would not be given anyway).
  const wanted = (ref: MediaRef) => (ref.kind === 'image' ? images++ < MAX_IMAGES : opts.files && files++ < MAX_FILES);
  const kept = await Promise.all(
    media.map(async (ref) => {
      if (isInlineMedia(ref.ref) || !wanted(ref)) return ref;
      try {
        return inlineMediaRef(ref, await fetchMediaItem(ref, message, fetcher, deps));
      } catch (err) {
        // Never the reference in the log: it may be a signed URL.
        deps.log.warn({ messageId, err: describeError(err).split(ref.ref).join('…') }, `${ref.kind} not kept on arrival; the agent downloads it later if it still can`);
        return ref;
      }
    }),
  );
  const count = kept.filter((k, i) => k !== media[i]).length;
  if (count === 0) return 0;
  // A message answered meanwhile keeps what it has: its agent had the images already.
  return (await deps.keep(messageId, kept)) ? count : 0;
}
