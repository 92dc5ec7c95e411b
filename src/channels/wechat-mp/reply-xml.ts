/** CDATA cannot contain "]]>": split it across two sections. */
function cdata(text: string): string {
  return `<![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}

/** A passive text reply, returned in the HTTP response to WeChat's request. */
export function textReplyXml(reply: { toUser: string; fromUser: string; createTime: number; content: string }): string {
  return (
    `<xml><ToUserName>${cdata(reply.toUser)}</ToUserName><FromUserName>${cdata(reply.fromUser)}</FromUserName>` +
    `<CreateTime>${Math.trunc(reply.createTime)}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
    `<Content>${cdata(reply.content)}</Content></xml>`
  );
}
