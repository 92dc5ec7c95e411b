import type en from '../en/common';
import type { Catalog } from '../catalog';

/** 中文 texts shared by every part of the panel: the same keys as en/common.ts. */
export default {
  time: {
    justNow: '刚刚',
    secondsAgo: '{{n}} 秒前',
    minutesAgo: '{{n}} 分钟前',
    hoursAgo: '{{n}} 小时前',
    daysAgo: '{{n}} 天前',
    inSeconds: '{{n}} 秒后',
    inMinutes: '{{n}} 分钟后',
    inTheFuture: '将来',
  },
} satisfies Catalog<typeof en>;
