import { useId, useState, type ClipboardEvent, type KeyboardEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { Attachment } from './attachments';
import { pastedFiles } from './attachments';
import { AttachButton, AttachmentStrip, useAttachments } from './ImageAttachments';

/**
 * The message box: Enter sends, Shift+Enter starts a new line. Images come from the "Attach image"
 * picker or a paste; a message may be images alone.
 */
export function Composer({ onSend, disabled }: { onSend: (text: string, images: Attachment[]) => void; disabled?: boolean }) {
  const { t } = useTranslation('chat');
  const [text, setText] = useState('');
  const attachments = useAttachments();
  const id = useId();
  const empty = text.trim() === '' && attachments.items.length === 0;
  const submit = () => {
    // While a picked file is still being read, wait: it would otherwise stay behind.
    if (empty || disabled || attachments.reading > 0) return;
    onSend(text.trim(), attachments.items);
    setText('');
    attachments.clear();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // isComposing: Enter that confirms an IME candidate (Chinese, Japanese input) must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  };
  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    const files = pastedFiles(e.clipboardData.items);
    if (files.length === 0) return; // plain text: pasted as usual
    e.preventDefault();
    attachments.add(files);
  };
  return (
    <form
      className="chat-composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <AttachmentStrip attachments={attachments} />
      <label htmlFor={id} className="chat-composer-label">
        {t('composer.label')}
      </label>
      <AttachButton onFiles={attachments.add} disabled={disabled} />
      <textarea
        id={id}
        value={text}
        rows={2}
        maxLength={20000}
        placeholder={t('composer.placeholder')}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        onPaste={onPaste}
      />
      <button type="submit" className="btn btn-primary" disabled={disabled || empty || attachments.reading > 0}>
        {t('composer.send')}
      </button>
    </form>
  );
}
