/** Wire and inspection types of the fake iLink platform (protocols.md §7). */

/** CDN media reference: placeholders in `ilinkItem`'s builders, a file the fake's CDN serves from `fake.hostMedia` / `userSendsImage`. */
export interface CdnMedia {
  encrypt_query_param?: string;
  /** base64 */
  aes_key?: string;
  encrypt_type?: number;
  full_url?: string;
}

/** One item of a message: `type` 1 TEXT, 2 IMAGE, 3 VOICE, 4 FILE, 5 VIDEO. */
export interface MessageItem {
  type: number;
  create_time_ms?: number;
  update_time_ms?: number;
  msg_id?: string;
  ref_msg?: { message_item?: MessageItem; title?: string };
  text_item?: { text?: string };
  image_item?: { media?: CdnMedia; thumb_media?: CdnMedia; aeskey?: string; url?: string; mid_size?: number };
  voice_item?: { media?: CdnMedia; encode_type?: number; sample_rate?: number; playtime?: number; text?: string };
  file_item?: { media?: CdnMedia; file_name?: string; md5?: string; len?: string };
  video_item?: { media?: CdnMedia; video_size?: number };
}

/** A message as getupdates delivers it. */
export interface WeixinMessage {
  seq: number;
  message_id: number;
  from_user_id: string;
  to_user_id: string;
  client_id: string;
  create_time_ms: number;
  update_time_ms: number;
  session_id: string;
  group_id?: string;
  /** 1 USER */
  message_type: number;
  /** 2 FINISH */
  message_state: number;
  item_list: MessageItem[];
  context_token: string;
}

/** A sendmessage call that succeeded. */
export interface SentMessage {
  /** Full user id, e.g. "alice@im.wechat". */
  to: string;
  clientId: string;
  contextToken: string;
  item: MessageItem;
  /** `text_item.text`, or '' for other item types. */
  text: string;
  /**
   * For an image item: the file its `media` names on the fake's CDN, decrypted with the key its `aes_key` carries
   * (sendmessage refuses an image whose media or key does not lead to a file).
   */
  image?: { data: Buffer; encryptQueryParam: string };
  at: number;
}

/** A file the fake's CDN took through `getuploadurl` and `POST /c2c/upload`. */
export interface UploadedMedia {
  filekey: string;
  /** `to_user_id` of getuploadurl (full id). */
  to: string;
  /** 1 image, 2 video, 3 file, 4 voice. */
  mediaType: number;
  /** The plaintext, as the ciphertext decrypted with the declared aeskey. */
  data: Buffer;
  /** What the upload answered in `x-encrypted-param`: the `encrypt_query_param` of the media to send. */
  downloadParam: string;
  at: number;
}

/** A sendtyping call that succeeded. */
export interface TypingCall {
  /** Full user id. */
  user: string;
  /** 1 typing, 2 cancel. */
  status: number;
  ticket: string;
  at: number;
}

export type QrStatus = 'wait' | 'scaned' | 'confirmed' | 'expired';

export interface QrSession {
  qrcode: string;
  /** What `qrcode_img_content` carried: the URL a client renders as a QR code. */
  imgContent: string;
  status: QrStatus;
  createdAt: number;
}

/** Endpoints under `ilink/bot/` (`notifystart` / `notifystop` are `msg/notifystart` / `msg/notifystop`), and the CDN's download. */
export type IlinkEndpoint =
  | 'getupdates'
  | 'sendmessage'
  | 'getconfig'
  | 'sendtyping'
  | 'get_bot_qrcode'
  | 'get_qrcode_status'
  | 'notifystart'
  | 'notifystop'
  | 'getuploadurl'
  /** The media CDN's `GET /c2c/download` (not under `ilink/bot/`). */
  | 'cdn_download'
  /** The media CDN's `POST /c2c/upload`. */
  | 'cdn_upload';

/**
 * A scripted failure: `{http}` answers that status with body "server error"; `{ret}` answers HTTP 200
 * `{ret, errcode: ret, errmsg}`; `{hangMs}` handles the call normally only after that long; `{reset}` destroys the socket.
 */
export type Failure = { http: number } | { ret: number; errmsg?: string } | { hangMs: number } | { reset: true };

/** One request the fake received. */
export interface IlinkCall {
  /** `unknown` for paths the fake does not serve (answered 404). */
  endpoint: IlinkEndpoint | 'unknown';
  method: string;
  /** Path and query as requested. */
  path: string;
  /** HTTP status answered; undefined while the call is held, or when the socket was reset or the client left first. */
  status?: number;
  /** The JSON answer, when one was sent (a CDN download's or upload's body is not kept). */
  response?: unknown;
  /** Set when the call ended with no answer: the client left while it was held, a scripted reset, or close(). */
  dropped?: true;
  /** The request body parsed as a JSON object; undefined when empty, not JSON or not an object (a CDN upload). */
  body: Record<string, unknown> | undefined;
  /** Size of the request body in bytes. */
  bodyBytes: number;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  at: number;
}

export interface FakeIlinkOptions {
  /** How long getupdates holds a request open with nothing to deliver (the real server: ~35 000). Default 35_000. */
  longPollMs?: number;
  /** How long get_qrcode_status holds with no change. Default 35_000. */
  qrPollMs?: number;
  /** QR session lifetime. Default 300_000 (5 min). */
  qrTtlMs?: number;
  /** Replies allowed per inbound message's context_token before sendmessage answers ret -2. Default 10. */
  repliesPerToken?: number;
}
