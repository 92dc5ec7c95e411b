import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { captureLogger } from '../helpers/logs.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();
const ENTRY = 'assistant.web_api';

describe('forgetting a user on request', () => {
  it("deletes the user's messages, replies and conversation, and the agent starts afresh with them; others are untouched", async () => {
    const llm = opened(await startFakeLlm());
    const logs = captureLogger('info');
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false };
    const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }, { log: logs.log }));
    await t.until(() => t.gateway.keeper.statusOf(ENTRY)?.state === 'running');
    const say = async (userId: string, content: string) => (await t.chat(ENTRY, { userId, content }, { wait: true })).json;
    await say('ann', 'my phone is 13800000000');
    await say('ann', 'call me');
    await say('bob', 'hello');

    const res = await t.admin('DELETE', `/entries/${ENTRY}/users/ann`);
    expect(res).toEqual({ status: 200, json: { entryKey: ENTRY, userId: 'ann', messages: 2, replies: 2, turns: 4, feedItems: 2, kept: 0 } });
    expect((await t.admin('GET', '/messages?userId=ann')).json.messages).toEqual([]);
    expect((await t.admin('GET', `/entries/${ENTRY}/conversations/ann/transcript`)).json.turns).toEqual([]);
    expect((await t.admin('GET', '/messages?userId=bob')).json.messages).toHaveLength(1);
    // What was deleted is not written to the log either.
    expect(logs.lines.find((l) => l.msg === 'user data deleted on request')).toMatchObject({ entry: ENTRY, messages: 2 });
    expect(logs.raw()).not.toContain('13800000000');

    // Ann comes back: the model sees nothing from before.
    await say('ann', 'hi again');
    const messages = (llm.requests.at(-1)!.body as { messages: { role: string; content: string }[] }).messages.filter((m) => m.role !== 'system');
    expect(messages).toEqual([{ role: 'user', content: 'hi again' }]);

    expect((await t.admin('DELETE', `/entries/assistant.nope/users/ann`)).status).toBe(404);
  });
});
