import { useCallback, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ImageIcon } from '../../components/Icons';
import { ACCEPT, fileName, formatBytes, makeAttachment, refuseBytes, refuseFile, type Attachment, type FileText } from './attachments';

export interface Attachments {
  items: Attachment[];
  /** Why the files last picked or pasted were not attached (each names its file). */
  errors: string[];
  /** Files being read: sending waits for them. */
  reading: number;
  add(files: File[]): void;
  remove(id: string): void;
  clear(): void;
  dismissErrors(): void;
}

/**
 * The images attached to the message being written. Each picked or pasted file is checked (type,
 * size, count, total) before it is read, and its bytes after, so a file that cannot be sent is
 * never attached.
 */
export function useAttachments(): Attachments {
  const text = useFileText();
  const [items, setItemsState] = useState<Attachment[]>([]);
  const [errors, setErrors] = useState<string[]>([]);
  const [reading, setReading] = useState(0);
  // Kept in refs as well: a second pick can come before the first one's files are read.
  const current = useRef<Attachment[]>([]);
  const pending = useRef({ slots: 0, bytes: 0 });
  const setItems = (next: Attachment[]) => {
    current.current = next;
    setItemsState(next);
  };

  const add = useCallback((files: File[]) => {
    if (files.length === 0) return;
    const problems: string[] = [];
    const accepted: File[] = [];
    for (const file of files) {
      const held = current.current;
      const attached = { slots: held.length + pending.current.slots, bytes: held.reduce((n, a) => n + a.size, 0) + pending.current.bytes };
      const problem = refuseFile(file, attached, text);
      if (problem) {
        problems.push(problem);
        continue;
      }
      accepted.push(file);
      pending.current = { slots: pending.current.slots + 1, bytes: pending.current.bytes + file.size };
    }
    setErrors(problems);
    if (accepted.length === 0) return;
    setReading((n) => n + accepted.length);
    void Promise.all(
      accepted.map((file) =>
        file.arrayBuffer().then(
          (buffer) => new Uint8Array(buffer),
          () => undefined,
        ),
      ),
    ).then((read) => {
      const added: Attachment[] = [];
      const later: string[] = [];
      accepted.forEach((file, i) => {
        pending.current = { slots: pending.current.slots - 1, bytes: pending.current.bytes - file.size };
        const bytes = read[i];
        if (!bytes) return void later.push(text('unreadable', { name: file.name }));
        const problem = refuseBytes(file.name, bytes, text);
        if (problem) later.push(problem);
        else added.push(makeAttachment(fileName(file.name, text), bytes));
      });
      setReading((n) => n - accepted.length);
      if (added.length > 0) setItems([...current.current, ...added]);
      if (later.length > 0) setErrors((list) => [...list, ...later]);
    });
  }, [text]);

  return {
    items,
    errors,
    reading,
    add,
    remove: (id) => setItems(current.current.filter((a) => a.id !== id)),
    clear: () => {
      setItems([]);
      setErrors([]);
    },
    dismissErrors: () => setErrors([]),
  };
}

/** The texts of attachments.ts in the panel's language. */
function useFileText(): FileText {
  const { t } = useTranslation('chat');
  return useCallback<FileText>((key, values) => t(`file.${key}`, values ?? {}), [t]);
}

/** The "Attach image" button and the file picker it opens. */
export function AttachButton({ onFiles, disabled }: { onFiles: (files: File[]) => void; disabled?: boolean }) {
  const { t } = useTranslation('chat');
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button
        type="button"
        className="btn btn-secondary chat-attach"
        aria-label={t('attach.button')}
        title={t('attach.buttonTitle')}
        disabled={disabled}
        onClick={() => input.current?.click()}
      >
        <ImageIcon />
      </button>
      <input
        ref={input}
        type="file"
        accept={ACCEPT}
        multiple
        hidden
        onChange={(e) => {
          const files = Array.from(e.target.files ?? []);
          // Cleared, so picking the same file again (after removing it) fires change again.
          e.target.value = '';
          onFiles(files);
        }}
      />
    </>
  );
}

/** Thumbnails of the attached images, each with its remove button; the reasons files were refused. */
export function AttachmentStrip({ attachments }: { attachments: Attachments }) {
  const { t } = useTranslation('chat');
  const text = useFileText();
  const { items, errors, reading, remove, dismissErrors } = attachments;
  if (items.length === 0 && errors.length === 0 && reading === 0) return null;
  return (
    <div className="chat-attachments">
      {(items.length > 0 || reading > 0) && (
        <ul className="chat-thumbs" aria-label={t('attach.list')}>
          {items.map((a) => (
            <li key={a.id} className="chat-thumb" title={t('attach.thumbTitle', { name: a.name, size: formatBytes(a.size, text) })}>
              <img src={a.url} alt={a.name} />
              <button type="button" className="chat-thumb-remove" aria-label={t('attach.remove', { name: a.name })} onClick={() => remove(a.id)}>
                ×
              </button>
            </li>
          ))}
          {reading > 0 && <li className="chat-thumb chat-thumb-reading">{t('attach.reading')}</li>}
        </ul>
      )}
      {errors.length > 0 && (
        <div className="chat-attach-errors" role="alert">
          <ul>
            {errors.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
          <button type="button" className="btn btn-quiet btn-small" aria-label={t('attach.dismissErrors')} onClick={dismissErrors}>
            ×
          </button>
        </div>
      )}
    </div>
  );
}
