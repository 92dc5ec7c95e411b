import { describe, expect, it } from 'vitest';
import { sceneSchema } from '../../src/config/schema.js';
import { routeOf, type Routable } from '../../src/core/scene-routes.js';

const scene = sceneSchema.parse({
  roster: ['front', 'sales', 'vip', 'ops'],
  routes: [
    { agent: 'vip', users: ['boss'] },
    { agent: 'ops', groups: ['oc_ops'] },
    { agent: 'sales', contains: ['price', '价格'], chats: 'direct' },
    { agent: 'sales', channels: ['feishu'], entries: ['partners'] },
  ],
});

const msg = (o: Partial<Routable['message']> & { entryKey?: string; channelType?: string } = {}): Routable => ({
  entryKey: o.entryKey ?? 'desk.web_api',
  channelType: o.channelType ?? 'web_api',
  message: { userId: 'ann', conversationId: 'ann', isGroup: false, content: 'hello', msgType: 'text', ...o },
});

describe('routeOf', () => {
  it('gives a message to the first route whose every condition fits, else to the lead', () => {
    expect(routeOf(scene, msg())).toEqual({ agentId: 'front' });
    expect(routeOf(scene, msg({ content: 'What is the PRICE?' }))).toEqual({ agentId: 'sales', route: 2 });
    expect(routeOf(scene, msg({ content: '请问价格' }))).toEqual({ agentId: 'sales', route: 2 });
    // The first rule wins: the boss asking about prices goes to vip.
    expect(routeOf(scene, msg({ userId: 'boss', content: 'price?' }))).toEqual({ agentId: 'vip', route: 0 });
    // contains with chats: direct: a price question in a group is not the sales agent's.
    expect(routeOf(scene, msg({ isGroup: true, conversationId: 'oc_team', content: 'price?' }))).toEqual({ agentId: 'front' });
    expect(routeOf(scene, msg({ isGroup: true, conversationId: 'oc_ops' }))).toEqual({ agentId: 'ops', route: 1 });
    // groups never fit a direct chat, even one whose id matches.
    expect(routeOf(scene, msg({ conversationId: 'oc_ops' }))).toEqual({ agentId: 'front' });
    // channels and entries together.
    expect(routeOf(scene, msg({ entryKey: 'desk.partners', channelType: 'feishu' }))).toEqual({ agentId: 'sales', route: 3 });
    expect(routeOf(scene, msg({ entryKey: 'desk.partners', channelType: 'web_api' }))).toEqual({ agentId: 'front' });
    // Words only: an image's description is not searched.
    expect(routeOf(scene, msg({ msgType: 'image', content: '[image] price list' }))).toEqual({ agentId: 'front' });
    expect(routeOf(scene, undefined)).toEqual({ agentId: 'front' });
  });

  it('refuses a route to an agent outside the roster, and one without a condition, naming the field', () => {
    const issues = (v: unknown) => sceneSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ roster: ['front'], routes: [{ agent: 'sales', users: ['x'] }] })).toEqual(['routes.0.agent: "sales" is not in the roster']);
    expect(issues({ roster: ['front', 'sales'], routes: [{ agent: 'sales' }] })).toEqual(['routes.0: needs a condition: channels, entries, chats, users, groups or contains']);
  });
});
