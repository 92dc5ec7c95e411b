/**
 * How model servers say a request is longer than the model takes: OpenAI and Azure
 * (`context_length_exceeded`), DeepSeek and vLLM ("maximum context length is … tokens"), Qwen on
 * DashScope ("Range of input length should be [1, N]"), Moonshot ("exceeded model token limit"),
 * Anthropic-style gateways ("prompt is too long", "input length and `max_tokens` exceed context
 * limit"). runAgent then asks again with the newer half of the history (COCO_ERR_AGENT_CONTEXT).
 */
const CONTEXT_OVERFLOW = /maximum context length|context[ _](?:length|window|limit)|range of input length|model token limit|prompt is too long|too many tokens/i;

export const CONTEXT_LENGTH_EXCEEDED = 'context_length_exceeded';

/** A refusal for length: HTTP 413 (the request is too large), or 400 with OpenAI's code or one of the known wordings. */
export function isContextOverflow(status: number | undefined, code: unknown, message: string): boolean {
  return status === 413 || (status === 400 && (code === CONTEXT_LENGTH_EXCEEDED || CONTEXT_OVERFLOW.test(message)));
}
