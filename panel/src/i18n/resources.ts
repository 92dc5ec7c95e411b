import enAgents from './en/agents';
import enApp from './en/app';
import enChat from './en/chat';
import enCommon from './en/common';
import enDashboard from './en/dashboard';
import enLogin from './en/login';
import enMessages from './en/messages';
import zhAgents from './zh/agents';
import zhApp from './zh/app';
import zhChat from './zh/chat';
import zhCommon from './zh/common';
import zhDashboard from './zh/dashboard';
import zhLogin from './zh/login';
import zhMessages from './zh/messages';

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
