/**
 * Temporary-media upload (上传临时素材) as WeChat Official Accounts and WeCom apps take it:
 * `POST /cgi-bin/media/upload?access_token&type=image` with a multipart/form-data body whose one
 * part is named `media` and carries filename, filelength and content-type. Both answer
 * `{type, media_id, created_at}` (WeChat's created_at a number, WeCom's a string) or `{errcode, errmsg}`.
 */
import { randomBytes } from 'node:crypto';
import { imageFileName, type MediaContent } from '../../core/media.js';
import { postForJson, type JsonAnswer } from './http-json.js';

export interface UploadFile extends MediaContent {
  filename: string;
}

/** A checked image as media/upload takes it, named by its type (WeChat and WeCom read the type from the file name). */
export function uploadFile(image: MediaContent): UploadFile {
  return { ...image, filename: imageFileName(image.mimeType) };
}

/** The multipart body of one `media` part, and the Content-Type header naming its boundary. */
export function mediaUploadBody(file: UploadFile): { body: Buffer; contentType: string } {
  const boundary = `----CocoCatMedia${randomBytes(12).toString('hex')}`;
  // The file name is ours (image.png…): nothing in it needs escaping.
  const head =
    `--${boundary}\r\n` +
    `Content-Disposition: form-data; name="media"; filename="${file.filename}"; filelength=${file.data.length}\r\n` +
    `Content-Type: ${file.mimeType}\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head, 'utf8'), file.data, Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8')]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/**
 * POSTs the file to a media/upload URL (with its access_token and type) and parses the JSON answer.
 * Throws on a network error, no answer within `timeoutMs` and a body that is not JSON, as `postJson`
 * does; the HTTP status and errcode are the caller's to judge.
 */
export function postMediaUpload(url: string, file: UploadFile, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<JsonAnswer> {
  const { body, contentType } = mediaUploadBody(file);
  return postForJson(url, body, { ...opts, headers: { 'content-type': contentType } });
}
