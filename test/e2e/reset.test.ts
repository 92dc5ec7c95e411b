import { describe, expect, it } from 'vitest';
import { startFakeLlm } from '../fakes/llm/server.js';
import { closeAfterEach } from '../helpers/cleanup.js';
import { startTestGateway } from '../helpers/gateway.js';
import { webApiEntry } from '../helpers/workspace.js';

const opened = closeAfterEach();

/** The texts of the conversation the model was given, without the system prompt. */
const conversationOf = (body: { messages?: { role: string; content: unknown }[] }) =>
  (body.messages ?? []).filter((m) => m.role !== 'system').map((m) => `${m.role}: ${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`);

describe('reset: a user makes the agent forget the conversation', () => {
  it('answers /reset with the reply, without the model, and the model sees nothing from before it', async () => {
    const llm = opened(await startFakeLlm());
    const profile = { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k', stream: false, reset: { commands: ['/reset', '新对话'] } };
    const t = opened(await startTestGateway({ agents: { assistant: { profile, entries: [webApiEntry()] } } }));
    await t.until(() => t.gateway.keeper.statusOf('assistant.web_api')?.state === 'running');
    const say = async (userId: string, content: string) => (await t.chat('assistant.web_api', { userId, content }, { wait: true })).json.reply.text as string;

    expect(await say('ann', 'my name is Ann')).toBe('reply to: my name is Ann');
    await say('ann', 'what is my name?');
    expect(conversationOf(llm.requests[1]!.body)).toEqual(['user: my name is Ann', 'assistant: reply to: my name is Ann', 'user: what is my name?']);
    await say('bob', 'hello');

    expect(await say('ann', '  /RESET ')).toBe('OK, starting a new conversation.');
    expect(llm.requests).toHaveLength(3);
    await say('ann', 'what is my name?');
    expect(conversationOf(llm.requests[3]!.body)).toEqual(['user: what is my name?']);
    // Another command of the list, and only in its own conversation: Bob's history is still there.
    await say('bob', 'again');
    expect(conversationOf(llm.requests[4]!.body)).toEqual(['user: hello', 'assistant: reply to: hello', 'user: again']);
    expect(await say('bob', '新对话')).toBe('OK, starting a new conversation.');
    // A command inside a longer message is just text for the model.
    await say('bob', 'please /reset');
    expect(conversationOf(llm.requests[5]!.body)).toEqual(['user: please /reset']);

    const [resetMessage] = (await t.gateway.store.listMessages({ limit: 20 })).filter((m) => m.content.trim() === '/RESET');
    const timeline = (await t.gateway.store.getMessage(resetMessage!.id))!.timeline;
    expect(timeline.find((e) => e.stage === 'replied')?.detail).toBe('conversation reset: 4 earlier turn(s) forgotten');
  });
});
