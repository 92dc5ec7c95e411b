import type en from '../en/app.js';
import type { Catalog } from '../catalog.js';

/** 中文 texts of the panel's frame: the same keys as en/app.ts. */
export default {
  unreachable: {
    title: '无法连接网关',
    help: '请确认 CocoCat 正在运行，然后刷新本页。',
  },
  nav: {
    dashboard: '概览',
    agents: '智能体',
    chat: '对话',
    messages: '消息',
  },
  skipToContent: '跳到正文',
  menu: '菜单',
  mainNav: '主导航',
  badge: {
    waitingTitle_one: '{{count}} 个转人工会话等待回复',
    waitingTitle_other: '{{count}} 个转人工会话等待回复',
    waiting: '等待人工',
    askingTitle_one: '{{count}} 位陌生人凭配对码请求对话',
    askingTitle_other: '{{count}} 位陌生人凭配对码请求对话',
    asking: '请求对话',
  },
  operator: {
    tag: '值班员',
    title: '你可以查看日志并回复用户；修改智能体、场景和接入需要管理员令牌',
  },
  language: '语言',
  logout: '退出登录',
  notFound: {
    title: '页面不存在',
    link: '返回概览',
  },
} satisfies Catalog<typeof en>;
