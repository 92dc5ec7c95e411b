import type { PassiveContent } from './passive-reply.js';

/** CDATA cannot contain "]]>": split it across two sections. */
function cdata(text: string): string {
  return `<![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}

interface ReplyHead {
  toUser: string;
  fromUser: string;
  createTime: number;
}

/** A passive text reply, returned in the HTTP response to WeChat's request. */
export function textReplyXml(reply: ReplyHead & { content: string }): string {
  return `${head(reply, 'text')}<Content>${cdata(reply.content)}</Content></xml>`;
}

/** A passive image reply: the media_id of an image uploaded as temporary media. */
export function imageReplyXml(reply: ReplyHead & { mediaId: string }): string {
  return `${head(reply, 'image')}<Image><MediaId>${cdata(reply.mediaId)}</MediaId></Image></xml>`;
}

/** The passive reply that carries `content`. */
export function passiveReplyXml(reply: ReplyHead, content: PassiveContent): string {
  return 'mediaId' in content ? imageReplyXml({ ...reply, mediaId: content.mediaId }) : textReplyXml({ ...reply, content: content.text });
}

function head(reply: ReplyHead, msgType: 'text' | 'image'): string {
  return (
    `<xml><ToUserName>${cdata(reply.toUser)}</ToUserName><FromUserName>${cdata(reply.fromUser)}</FromUserName>` +
    `<CreateTime>${Math.trunc(reply.createTime)}</CreateTime><MsgType><![CDATA[${msgType}]]></MsgType>`
  );
}
