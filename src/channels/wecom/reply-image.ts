import { MAX_IMAGE_BYTES } from '../../core/media.js';
import type { ImageRules } from '../shared/reply-image.js';

/** What WeCom takes as temporary media for an image message (上传临时素材: JPG, PNG; more than 5 bytes, 10 MB). */
export const WECOM_IMAGES: ImageRules = {
  channel: 'wecom',
  platform: 'WeCom',
  types: new Set(['image/png', 'image/jpeg']),
  typeNames: 'jpg or png',
  maxBytes: MAX_IMAGE_BYTES,
  tooSmallBytes: 5,
};
