/** English texts of the panel's frame: navigation, log out, the pages that are not found. */
export default {
  unreachable: {
    title: 'Cannot reach the gateway',
    help: 'Check that CocoCat is running, then reload this page.',
  },
  nav: {
    dashboard: 'Dashboard',
    agents: 'Agents',
    chat: 'Chat',
    messages: 'Messages',
  },
  skipToContent: 'Skip to content',
  menu: 'Menu',
  mainNav: 'Main',
  badge: {
    waitingTitle_one: '{{count}} handed-over conversation waiting for a reply',
    waitingTitle_other: '{{count}} handed-over conversations waiting for a reply',
    waiting: 'waiting for a person',
    askingTitle_one: '{{count}} stranger asking to talk, with a pairing code',
    askingTitle_other: '{{count}} strangers asking to talk, with a pairing code',
    asking: 'asking to talk',
  },
  operator: {
    tag: 'Operator',
    title: 'You can read the log and answer people; changing agents, scenes and entries needs the admin token',
  },
  language: 'Language',
  logout: 'Log out',
  notFound: {
    title: 'Page not found',
    link: 'Go to the dashboard',
  },
};
