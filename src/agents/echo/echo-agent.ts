import type { Agent, AgentDeps, AgentReply, AgentRequest } from '../agent.js';
import type { EchoProfile } from '../../config/schema.js';

/** Answers with the message itself: for trying out a channel without a model behind it. */
export class EchoAgent implements Agent {
  readonly provider = 'echo';
  readonly usesHistory = false;

  constructor(
    private readonly profile: EchoProfile,
    _deps?: AgentDeps,
  ) {}

  async run(request: AgentRequest): Promise<AgentReply> {
    const reply: AgentReply = { text: this.profile.prefix + request.message.content, format: 'text' };
    // With `images: true` the gateway hands over the user's images; they go back with the echo.
    const images = request.images?.map((i) => ({ data: i.data.toString('base64'), mimeType: i.mimeType }));
    return images?.length ? { ...reply, images } : reply;
  }
}

export function createEchoAgent(profile: EchoProfile, deps: AgentDeps): Agent {
  return new EchoAgent(profile, deps);
}
