/** MessageItem builders and user ids. */
import { createHash, randomBytes } from 'node:crypto';
import type { CdnMedia, MessageItem } from './types.js';

export const ITEM_TYPE = { TEXT: 1, IMAGE: 2, VOICE: 3, FILE: 4, VIDEO: 5 } as const;

/** "alice" → "alice@im.wechat"; an id that already has a domain is kept. */
export const fullUserId = (user: string): string => (user.includes('@') ? user : `${user}@im.wechat`);

/** Placeholder CDN reference: well-formed, but the fake's CDN serves nothing behind it (404). */
function media(): CdnMedia {
  return { encrypt_query_param: randomBytes(24).toString('base64'), aes_key: randomBytes(16).toString('base64'), encrypt_type: 1 };
}

/** Builders for inbound items; `userSends` fills in `create_time_ms` and `msg_id`. */
export const ilinkItem = {
  text: (text: string): MessageItem => ({ type: ITEM_TYPE.TEXT, text_item: { text } }),
  /**
   * An image; without `hosted` its media is a placeholder. With a file the fake's CDN serves (`fake.hostMedia`), the
   * item carries its media and, unless `aeskey: false`, the key as hex in `image_item.aeskey`, as real images do.
   */
  image: (hosted?: { media: CdnMedia; key: Buffer; ciphertext: Buffer }, opts: { aeskey?: boolean } = {}): MessageItem => ({
    type: ITEM_TYPE.IMAGE,
    image_item: hosted
      ? { media: hosted.media, ...(opts.aeskey === false ? {} : { aeskey: hosted.key.toString('hex') }), url: '', mid_size: hosted.ciphertext.length }
      : { media: media(), aeskey: randomBytes(16).toString('hex'), url: '', mid_size: 4096 },
  }),
  /** A voice note; `transcript` is the platform's ASR text. */
  voice: (transcript: string): MessageItem => ({
    type: ITEM_TYPE.VOICE,
    voice_item: { media: media(), encode_type: 6, sample_rate: 16000, playtime: 1500, text: transcript },
  }),
  /**
   * A file; without `hosted` its media is a placeholder. With a file the fake's CDN serves (`fake.hostMedia(data,
   * { keyForm: 'hex' })`, as files carry their key), `data` is the plaintext the item describes (md5 and length).
   */
  file: (name: string, hosted?: { media: CdnMedia; data: Buffer }): MessageItem => ({
    type: ITEM_TYPE.FILE,
    file_item: hosted
      ? { media: hosted.media, file_name: name, md5: createHash('md5').update(hosted.data).digest('hex'), len: String(hosted.data.length) }
      : { media: media(), file_name: name, md5: createHash('md5').update(name).digest('hex'), len: '1024' },
  }),
  video: (): MessageItem => ({ type: ITEM_TYPE.VIDEO, video_item: { media: media(), video_size: 65536 } }),
};

/** The field each item type must carry. */
export const ITEM_FIELD: Record<number, keyof MessageItem> = {
  [ITEM_TYPE.TEXT]: 'text_item',
  [ITEM_TYPE.IMAGE]: 'image_item',
  [ITEM_TYPE.VOICE]: 'voice_item',
  [ITEM_TYPE.FILE]: 'file_item',
  [ITEM_TYPE.VIDEO]: 'video_item',
};
