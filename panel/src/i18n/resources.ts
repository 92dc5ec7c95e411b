import enAgents from './en/agents.js';
import enApp from './en/app.js';
import enChat from './en/chat.js';
import enCommon from './en/common.js';
import enDashboard from './en/dashboard.js';
import enLogin from './en/login.js';
import enMessages from './en/messages.js';
import zhAgents from './zh/agents.js';
import zhApp from './zh/app.js';
import zhChat from './zh/chat.js';
import zhCommon from './zh/common.js';
import zhDashboard from './zh/dashboard.js';
import zhLogin from './zh/login.js';
import zhMessages from './zh/messages.js';

/** One namespace per part of the panel, so each part's texts sit in one file per language. */
export const en = {
  common: enCommon,
  app: enApp,
  login: enLogin,
  dashboard: enDashboard,
  agents: enAgents,
  chat: enChat,
  messages: enMessages,
};

export const zh = {
  common: zhCommon,
  app: zhApp,
  login: zhLogin,
  dashboard: zhDashboard,
  agents: zhAgents,
  chat: zhChat,
  messages: zhMessages,
} satisfies Record<keyof typeof en, object>;

export const resources = { en, zh };
