import { currentLanguage } from '../i18n';
import type { ChannelType } from './types';

/** A channel's name in the panel's language, as the gateway's catalog gives it. */
export function channelName(type: ChannelType): string {
  return type.translations?.[currentLanguage()]?.displayName ?? type.displayName;
}

/** A channel's description in the panel's language, as the gateway's catalog gives it. */
export function channelDescription(type: ChannelType): string {
  return type.translations?.[currentLanguage()]?.description ?? type.description;
}
