import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Button } from './Button';

/** Copies text; falls back to selecting a hidden textarea where the Clipboard API is not allowed (plain http). */
export function CopyButton({ text, label }: { text: string; label?: string }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1_500);
  };
  return (
    <Button small onClick={copy} aria-live="polite">
      {copied ? t('copied') : (label ?? t('copy'))}
    </Button>
  );
}
