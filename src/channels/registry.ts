import { CocoError } from '../core/errors.js';
import type { ChannelDefinition } from './define.js';
import { feishuChannel } from './feishu/index.js';
import { webApiChannel } from './web-api/index.js';
import { wechatIlinkChannel } from './wechat-ilink/index.js';
import { wechatMpChannel } from './wechat-mp/index.js';
import { wecomChannel } from './wecom/index.js';
import { wecomBotChannel } from './wecom-bot/index.js';

/** Every channel type CocoCat knows: one line each. */
const builtIn: ChannelDefinition[] = [webApiChannel as unknown as ChannelDefinition, wechatMpChannel as unknown as ChannelDefinition, wechatIlinkChannel as unknown as ChannelDefinition, feishuChannel as unknown as ChannelDefinition, wecomBotChannel as unknown as ChannelDefinition, wecomChannel as unknown as ChannelDefinition];

export class ChannelRegistry {
  private readonly byType = new Map<string, ChannelDefinition>();

  constructor(definitions: ChannelDefinition[] = builtIn) {
    for (const def of definitions) this.register(def);
  }

  register(def: ChannelDefinition): void {
    if (this.byType.has(def.type)) throw new Error(`channel type "${def.type}" is registered twice`);
    this.byType.set(def.type, def);
  }

  get(type: string): ChannelDefinition {
    const def = this.byType.get(type);
    if (!def) {
      throw new CocoError('COCO_ERR_CHANNEL_UNKNOWN', `unknown channel type "${type}"; known: ${this.types().join(', ')}`, {
        statusCode: 400,
        field: 'channel',
      });
    }
    return def;
  }

  has(type: string): boolean {
    return this.byType.has(type);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  all(): ChannelDefinition[] {
    return [...this.byType.values()];
  }
}
