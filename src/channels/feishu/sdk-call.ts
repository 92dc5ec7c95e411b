import { FeishuApiError, withTenantToken, type FeishuTokens } from './api.js';
import type { LarkSdk } from './long-connection.js';

/** What the SDK's calls answer: Feishu's envelope. */
export interface SdkAnswer {
  code?: number;
  msg?: string;
}

/**
 * One call through the official SDK client with the app's tenant token, renewed once when Feishu
 * refuses it. A non-zero `code` in the answer is thrown as a FeishuApiError naming `path`.
 */
export function sdkCall<A extends SdkAnswer>(sdk: LarkSdk, tokens: FeishuTokens, path: string, request: (auth: ReturnType<LarkSdk['withTenantToken']>) => Promise<A>): Promise<A> {
  return withTenantToken(tokens, async (token) => {
    const answer = await request(sdk.withTenantToken(token));
    if (answer.code !== undefined && answer.code !== 0) throw new FeishuApiError(path, 200, answer.code, answer.msg ?? '');
    return answer;
  });
}
