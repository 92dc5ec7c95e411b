import { createContext, useCallback, useContext, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

/** An error (or notice) shown above a page's content; role=alert so screen readers announce it. */
export function Banner({ kind = 'error', children, onDismiss }: { kind?: 'error' | 'info' | 'ok'; children: ReactNode; onDismiss?(): void }) {
  const { t } = useTranslation();
  return (
    <div className={`banner banner-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      <div className="banner-text">{children}</div>
      {onDismiss && (
        <button type="button" className="btn btn-quiet btn-small" onClick={onDismiss} aria-label={t('dismiss')}>
          ×
        </button>
      )}
    </div>
  );
}

interface Toast {
  id: number;
  text: string;
}

const ToastContext = createContext<(text: string) => void>(() => {});

/** Short confirmations ("Saved") in a polite live region at the bottom of the screen. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const show = useCallback((text: string) => {
    const id = Date.now() + Math.random();
    setToasts((list) => [...list.slice(-2), { id, text }]);
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), 3_000);
  }, []);
  return (
    <ToastContext.Provider value={show}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className="toast">
            {t.text}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): (text: string) => void {
  return useContext(ToastContext);
}
