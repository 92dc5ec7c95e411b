import { useId, useState, type KeyboardEvent } from 'react';

/** The message box: Enter sends, Shift+Enter starts a new line. */
export function Composer({ onSend, disabled }: { onSend: (text: string) => void; disabled?: boolean }) {
  const [text, setText] = useState('');
  const id = useId();
  const submit = () => {
    const content = text.trim();
    if (!content || disabled) return;
    onSend(content);
    setText('');
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // isComposing: Enter that confirms an IME candidate (Chinese, Japanese input) must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  };
  return (
    <form
      className="chat-composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor={id} className="chat-composer-label">
        Message
      </label>
      <textarea id={id} value={text} rows={2} maxLength={20000} placeholder="Type a message — Enter sends, Shift+Enter for a new line" onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} />
      <button type="submit" className="btn btn-primary" disabled={disabled || text.trim() === ''}>
        Send
      </button>
    </form>
  );
}
