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
    return { text: this.profile.prefix + request.message.content, format: 'text' };
  }
}

export function createEchoAgent(profile: EchoProfile, deps: AgentDeps): Agent {
  return new EchoAgent(profile, deps);
}
