import { join } from 'node:path';
import { Readable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateCommand } from '../../src/cli/commands/simulate.js';
import { imagesOf, startFakeLlm, type FakeLlm } from '../fakes/llm/server.js';
import { solidPng } from '../helpers/images.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { makeWorkspace } from '../helpers/workspace.js';

const dirs = tempDirs();

async function simulate(lines: string[], opts: { workspace?: string; channel?: string; agent?: string; user?: string } = {}) {
  const printed: string[] = [];
  // Without a workspace, simulate creates the demo one in a folder that does not exist yet.
  const workspace = opts.workspace ?? join(dirs.make('cococat-sim-'), 'ws');
  const code = await simulateCommand({
    workspace,
    channel: opts.channel ?? 'wechat_mp',
    agent: opts.agent ?? 'assistant',
    user: opts.user ?? 'oTester',
    env: {},
    input: Readable.from(lines.map((l) => `${l}\n`)),
    print: (line) => printed.push(line),
  });
  return { code, printed };
}

describe('cococat simulate wechat_mp', () => {
  it('creates the demo workspace and answers each typed line as the 公众号 would', async () => {
    const { code, printed } = await simulate(['hello 公众号', 'second line']);
    expect(code).toBe(0);
    expect(printed.filter((l) => l.startsWith('公众号'))).toEqual(['公众号: hello 公众号', '公众号: second line']);
  }, 20_000);

  it('uses an agent of an existing workspace', async () => {
    const workspace = dirs.track(makeWorkspace({ agents: { greeter: { profile: { provider: 'echo', prefix: 'you said: ' } } } }));
    const { code, printed } = await simulate(['hi'], { workspace, agent: 'greeter' });
    expect(code).toBe(0);
    expect(printed).toContain('公众号: you said: hi');
  }, 20_000);

  it('refuses an unknown channel or agent with a hint', async () => {
    expect(await simulate([], { channel: 'fax' })).toMatchObject({ code: 2, printed: [expect.stringMatching(/available: wechat_mp, wechat_ilink, feishu/)] });
    const workspace = dirs.track(makeWorkspace({ agents: { a: { profile: { provider: 'echo' } } } }));
    expect(await simulate([], { workspace, agent: 'nobody' })).toMatchObject({ code: 2, printed: [expect.stringMatching(/--agent/)] });
  });
});

describe('cococat simulate feishu', () => {
  it('answers each typed line in the direct chat, and a /group line as a reply in the group', async () => {
    const { code, printed } = await simulate(['你好 飞书', '/group what about the group?'], { channel: 'feishu', user: 'ou_tester000000000000000000000' });
    expect(code).toBe(0);
    expect(printed.some((l) => l.includes('long connection'))).toBe(true);
    expect(printed.filter((l) => l.startsWith('飞书'))).toEqual(['飞书: 你好 飞书', '飞书 (reply in the group): what about the group?']);
  }, 20_000);

  it('prints a streamed answer once, as the finished card shows it', async () => {
    const answer = 'A slow model writes this answer word by word, so Feishu shows it in a card that fills in.';
    const llm = await startFakeLlm({ pieceDelayMs: 100, reply: () => answer });
    try {
      const workspace = dirs.track(makeWorkspace({ agents: { writer: { profile: { provider: 'openai', model: 'm', base_url: llm.url, api_key: 'k' } } } }));
      const { code, printed } = await simulate(['write slowly'], { workspace, agent: 'writer', channel: 'feishu' });
      expect(code).toBe(0);
      expect(printed.filter((l) => l.startsWith('飞书'))).toEqual([`飞书: ${answer}`]);
      expect(llm.requests[0]!.body).toMatchObject({ stream: true });
    } finally {
      await llm.close();
    }
  }, 30_000);
});

describe('cococat simulate wecom', () => {
  it('welcomes the member on /enter and answers each typed line through message/send', async () => {
    const { code, printed } = await simulate(['/enter', '你好 企业微信'], { channel: 'wecom', user: 'zhangsan' });
    expect(code).toBe(0);
    expect(printed.some((l) => l.includes('callback mode'))).toBe(true);
    expect(printed.filter((l) => l.startsWith('企业微信'))).toEqual(['企业微信: You are talking to agent "assistant".', '企业微信: 你好 企业微信']);
  }, 20_000);
});

describe('cococat simulate wecom_bot', () => {
  it('answers each typed line over the long connection, in the chat and @-mentioned in a group', async () => {
    const { code, printed } = await simulate(['你好 机器人', '/group and in the group?'], { channel: 'wecom_bot', user: 'lisi' });
    expect(code).toBe(0);
    expect(printed.some((l) => l.includes('long connection'))).toBe(true);
    expect(printed.filter((l) => l.startsWith('企业微信机器人'))).toEqual(['企业微信机器人: 你好 机器人', '企业微信机器人 (in the group): and in the group?']);
  }, 30_000);
});

describe('cococat simulate wechat_ilink', () => {
  it('answers each typed line over the long poll, logged in as the simulated bot', async () => {
    const { code, printed } = await simulate(['你好 微信', 'and again'], { channel: 'wechat_ilink', user: 'wang' });
    expect(code).toBe(0);
    expect(printed.some((l) => l.includes('long poll') && l.includes('@im.bot'))).toBe(true);
    expect(printed.filter((l) => l.startsWith('微信 bot'))).toEqual(['微信 bot: 你好 微信', '微信 bot: and again']);
  }, 30_000);
});

describe('cococat simulate: /image <file>', () => {
  let llm: FakeLlm;
  beforeAll(async () => {
    llm = await startFakeLlm();
  });
  afterAll(() => llm.close());

  it.each(['wechat_mp', 'feishu', 'wecom', 'wecom_bot', 'wechat_ilink'])('sends the file as the %s user\'s photo, which a vision agent sees', async (channel) => {
    const png = solidPng(2, 2, [channel.length * 10, 0, 0]);
    const folder = dirs.make('cococat-sim-img-');
    const file = join(folder, 'photo.png');
    writeFileSync(file, png);
    const workspace = dirs.track(makeWorkspace({ agents: { eyes: { profile: { provider: 'openai', model: 'vision', base_url: llm.url, api_key: 'k', images: true } } } }));
    llm.reset();
    const { code, printed } = await simulate([`/image ${join(folder, 'missing.png')}`, `/image ${file}`], { workspace, agent: 'eyes', channel });
    expect(code).toBe(0);
    expect(printed).toContain(`(cannot read ${join(folder, 'missing.png')}: ENOENT: no such file or directory, open '${join(folder, 'missing.png')}')`);
    expect(printed.filter((l) => l.endsWith('reply to: [image] (+1 image)')), printed.join('\n')).toHaveLength(1);
    expect(llm.requests).toHaveLength(1);
    expect(imagesOf(llm.requests[0]!)).toEqual([{ mimeType: 'image/png', data: png }]);
    // Longer than the simulator's own wait for an answer (30 s): a missing answer fails above, on what was printed.
  }, 45_000);

  it.each(['wechat_mp', 'feishu', 'wecom', 'wecom_bot', 'wechat_ilink'])('shows the image the %s user gets back from an echo agent with images: true', async (channel) => {
    const png = solidPng(3, 2, [0, channel.length * 10, 0]);
    const folder = dirs.make('cococat-sim-echo-');
    const file = join(folder, 'photo.png');
    writeFileSync(file, png);
    const workspace = dirs.track(makeWorkspace({ agents: { mirror: { profile: { provider: 'echo', images: true } } } }));
    const { code, printed } = await simulate([`/image ${file}`, 'and text'], { workspace, agent: 'mirror', channel });
    expect(code).toBe(0);
    expect(printed.filter((l) => l.endsWith(`: [image ${png.length} bytes image/png]`)), printed.join('\n')).toHaveLength(1);
    expect(printed.filter((l) => l.endsWith(': and text')), printed.join('\n')).toHaveLength(1);
  }, 45_000);
});

