import { CocoError, describeError } from '../../src/core/errors.js';
import { mediaType, readMediaBody, type MediaContent, type MediaContext } from '../../src/core/media.js';
import type { MediaRef } from '../../src/core/message.js';
import type { RelayChannelConfig } from './config.js';

/**
 * Downloads a file a user sent: `GET {base_url}/files/{file_id}`. It needs only the entry's config,
 * so whichever gateway process runs the message's agent can call it.
 */
export async function fetchRelayMedia(media: MediaRef, ctx: MediaContext<RelayChannelConfig>): Promise<MediaContent> {
  const url = `${ctx.config.base_url.replace(/\/+$/, '')}/files/${encodeURIComponent(media.ref)}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${ctx.config.token}` }, signal: ctx.signal });
  } catch (err) {
    throw new CocoError('COCO_ERR_MEDIA', `relay: GET /files/${media.ref} failed: ${describeError(err)}`, { cause: err, retryable: true });
  }
  if (res.status === 404) {
    await res.body?.cancel();
    // The platform keeps files for a day: asking again will not bring it back.
    throw new CocoError('COCO_ERR_MEDIA', `relay: file ${media.ref} is gone (404)`, { retryable: false });
  }
  const data = await readMediaBody(res, ctx.maxBytes, `relay: GET /files/${media.ref}`);
  return { data, mimeType: mediaType(data, res.headers.get('content-type')) };
}
