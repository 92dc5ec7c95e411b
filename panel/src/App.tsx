import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { session, UNAUTHORIZED_EVENT } from './api';
import { ToastProvider } from './components/Banner';
import { LanguageSwitcher } from './components/LanguageSwitcher';
import { Logo, MenuIcon } from './components/Icons';
import { AgentPage } from './pages/agents/AgentPage';
import { AgentsPage } from './pages/agents/AgentsPage';
import { NewTargetPage } from './pages/agents/NewTargetPage';
import { ScenePage } from './pages/agents/ScenePage';
import { ChatPage } from './pages/chat/ChatPage';
import { DashboardPage } from './pages/dashboard/DashboardPage';
import { LoginPage } from './pages/login/LoginPage';
import { HandoffsProvider, useHandoffs } from './pages/messages/handoffs-state';
import { PairingProvider, usePairingRequests } from './pages/messages/pairing-state';
import { MessagesPage } from './pages/messages/MessagesPage';
import { href, useRoute, type Route } from './router';
import { RoleContext, type Access } from './role';

type Auth = 'checking' | 'out' | 'in' | 'unreachable';

export function App() {
  // Reading the language here redraws the whole panel when it changes.
  const { t } = useTranslation('app');
  const [auth, setAuth] = useState<Auth>('checking');
  useEffect(() => {
    session.current().then(
      (s) => setAuth(s ? 'in' : 'out'),
      () => setAuth('unreachable'),
    );
    const onUnauthorized = () => setAuth('out');
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, []);

  if (auth === 'checking') return <main className="splash" aria-busy="true" />;
  if (auth === 'unreachable') {
    return (
      <main className="login">
        <div className="login-card" role="alert">
          <h1>{t('unreachable.title')}</h1>
          <p>{t('unreachable.help')}</p>
        </div>
      </main>
    );
  }
  if (auth === 'out') return <LoginPage onLogin={() => setAuth('in')} />;
  return (
    <ToastProvider>
      <HandoffsProvider>
        <PairingProvider>
          <Shell onLogout={() => setAuth('out')} />
        </PairingProvider>
      </HandoffsProvider>
    </ToastProvider>
  );
}

const NAV = ['dashboard', 'agents', 'chat', 'messages'] as const;

function sectionOf(route: Route): string {
  const first = route.parts[0] ?? 'dashboard';
  return first === 'scenes' ? 'agents' : first;
}

/**
 * Handed-over conversations whose newest message has no reply yet (see HandoffsProvider); shown on
 * the Messages link and in the tab's title, so an operator on another page sees that someone waits.
 */
function useWaitingForPerson(): number {
  const waiting = useHandoffs().items.filter((h) => h.awaitingReply).length;
  useEffect(() => {
    document.title = waiting > 0 ? `(${waiting}) CocoCat` : 'CocoCat';
  }, [waiting]);
  return waiting;
}

function Shell({ onLogout }: { onLogout(): void }) {
  const { t } = useTranslation('app');
  const route = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const section = sectionOf(route);
  // A new page closes the phone menu and starts at the top.
  useEffect(() => {
    setMenuOpen(false);
    window.scrollTo(0, 0);
  }, [route.parts.join('/')]);

  // Escape closes the phone menu and gives focus back to its button.
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setMenuOpen(false);
      document.querySelector<HTMLButtonElement>('.menu-button')?.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [menuOpen]);

  const [access, setAccess] = useState<Access>();
  const role = access?.role;
  useEffect(() => {
    // Not known (an old gateway, a failed read): the admin's view; the gateway refuses what is not allowed anyway.
    session.current().then(
      (s) => setAccess({ role: s?.role ?? 'admin', ...(s?.can ? { can: s.can } : {}) }),
      () => setAccess({ role: 'admin' }),
    );
  }, []);

  const logout = async () => {
    await session.logout().catch(() => undefined);
    onLogout();
  };
  const waiting = useWaitingForPerson();
  const asking = usePairingRequests().items.length;

  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        {t('skipToContent')}
      </a>
      <header className="topbar">
        <a className="brand" href={href(['dashboard'])}>
          <Logo />
          <span>CocoCat</span>
        </a>
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          <MenuIcon />
          <span className="visually-hidden">{t('menu')}</span>
        </button>
        <nav id="main-nav" className={`nav${menuOpen ? ' is-open' : ''}`} aria-label={t('mainNav')}>
          <ul>
            {NAV.map((item) => (
              <li key={item}>
                <a href={href([item])} aria-current={section === item ? 'page' : undefined}>
                  {t(`nav.${item}`)}
                  {item === 'messages' && waiting > 0 && (
                    <span className="nav-badge" title={t('badge.waitingTitle', { count: waiting })}>
                      {waiting}
                      <span className="visually-hidden"> {t('badge.waiting')}</span>
                    </span>
                  )}
                  {item === 'messages' && asking > 0 && (
                    <span className="nav-badge nav-badge-quiet" title={t('badge.askingTitle', { count: asking })}>
                      {asking}
                      <span className="visually-hidden"> {t('badge.asking')}</span>
                    </span>
                  )}
                </a>
              </li>
            ))}
          </ul>
          {role === 'operator' && (
            <span className="role-tag" title={t('operator.title')}>
              {t('operator.tag')}
            </span>
          )}
          <LanguageSwitcher />
          <button type="button" className="btn btn-quiet logout" onClick={logout}>
            {t('logout')}
          </button>
        </nav>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        {/* Until the role is known, nothing that depends on it is shown: an operator never sees the admin's buttons flash. */}
        {access && (
          <RoleContext.Provider value={access}>
            <Page route={route} />
          </RoleContext.Provider>
        )}
      </main>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  const { t } = useTranslation('app');
  const [first = 'dashboard', second] = route.parts;
  switch (first) {
    case 'dashboard':
      return <DashboardPage />;
    case 'agents':
      if (second) return <AgentPage key={second} id={second} />;
      if (route.query.get('new')) return <NewTargetPage kind={route.query.get('new') === 'scene' ? 'scene' : 'agent'} />;
      return <AgentsPage />;
    case 'scenes':
      if (second) return <ScenePage key={second} id={second} />;
      return <AgentsPage />;
    case 'chat':
      return <ChatPage />;
    case 'messages':
      return <MessagesPage />;
    default:
      return (
        <div className="page">
          <h1>{t('notFound.title')}</h1>
          <p>
            <a href={href(['dashboard'])}>{t('notFound.link')}</a>
          </p>
        </div>
      );
  }
}
