import { MAX_IMAGE_BYTES } from '../../core/media.js';
import type { ImageRules } from '../shared/reply-image.js';

/** What WeChat takes as temporary media for an image message (新增临时素材: bmp/png/jpeg/jpg/gif, 10 MB). */
export const WECHAT_MP_IMAGES: ImageRules = {
  channel: 'wechat_mp',
  platform: 'WeChat',
  types: new Set(['image/png', 'image/jpeg', 'image/gif', 'image/bmp']),
  typeNames: 'png, jpeg, gif or bmp',
  maxBytes: MAX_IMAGE_BYTES,
};
