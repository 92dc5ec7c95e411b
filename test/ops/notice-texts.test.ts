import { describe, expect, it } from 'vitest';
import { duration, noticeText, senderName } from '../../src/ops/notice-texts.js';

describe('notice texts', () => {
  it('reads durations as minutes, hours and days, in English and Chinese', () => {
    const MINUTE = 60_000;
    const shown = [29_000, 4 * MINUTE, 125 * MINUTE, 120 * MINUTE, 25 * 60 * MINUTE, 48 * 60 * MINUTE].map(duration);
    expect(shown.map((d) => d.en)).toEqual(['0 min', '4 min', '2 h 5 min', '2 h', '1 d 1 h', '2 d']);
    expect(shown.map((d) => d.zh)).toEqual(['0 分钟', '4 分钟', '2 小时 5 分钟', '2 小时', '1 天 1 小时', '2 天']);
  });

  it('names a sender with their group, and says each event in both languages', () => {
    const inGroup = senderName({ userId: 'ou_1', userName: '张三', isGroup: true, conversationId: 'oc_9' });
    expect(inGroup).toEqual({ en: '张三 (ou_1) in group oc_9', zh: '群 oc_9 中的 张三 (ou_1)' });
    expect(noticeText.quoting(noticeText.askedForPerson(inGroup, 'desk.feishu'), '转人工')).toEqual({
      en: '张三 (ou_1) in group oc_9 asked for a person on desk.feishu: "转人工"',
      zh: '群 oc_9 中的 张三 (ou_1) 在 desk.feishu 请求人工客服：“转人工”',
    });
    const entry = { key: 'bot.wechat_ilink', channelName: 'personal WeChat', target: { kind: 'agent' as const, id: 'bot' } };
    expect(noticeText.entryDown(entry, 'session expired', 5 * 60_000).zh).toBe(
      '入口 bot.wechat_ilink（personal WeChat，智能体 bot）已中断：session expired。已持续 5 分钟，恢复之前它的用户收不到回复。',
    );
    expect(noticeText.messageDead(senderName({ userId: 'u', isGroup: false, conversationId: 'u' }), 'desk.web_api', 'boom', 5).zh).toBe(
      'desk.web_api 上 u 的一条消息试了 5 次，已成为死信：boom',
    );
  });
});
