import { useEffect, useRef, useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import { localTime, relativeTime } from '../messages/time';
import { beingWritten, bubbleImages, bubbleText, isStreaming, showableImageUrl, type Bubble, type ImageChunk } from './chat-state';
import { Markdown } from './Markdown';

/** The conversation, oldest first, kept scrolled to the newest bubble. */
export function Transcript({ bubbles, loaded, now }: { bubbles: Bubble[]; loaded: boolean; now: number }) {
  const { t } = useTranslation('chat');
  const end = useRef<HTMLDivElement>(null);
  const last = bubbles[bubbles.length - 1];
  const lastText = last ? bubbleText(last) : '';
  // An image chunk adds no text: count the chunks too, so it scrolls into view as well.
  const lastChunks = last?.role === 'assistant' ? last.chunks.filter((c) => c !== undefined).length : 0;
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: 'end' });
  }, [bubbles.length, lastText, lastChunks]);
  const writing = beingWritten(bubbles);

  return (
    <div className="chat-transcript" role="log" aria-label={t('transcript.label')} aria-live="polite">
      {!loaded && <p className="chat-muted">{t('transcript.loading')}</p>}
      {loaded && bubbles.length === 0 && <p className="chat-muted">{t('transcript.empty')}</p>}
      {bubbles.map((b) => (
        <BubbleView key={b.key} bubble={b} now={now} answerShowing={b.role === 'user' && b.messageId !== undefined && writing.has(b.messageId)} />
      ))}
      <div ref={end} />
    </div>
  );
}

/** `answerShowing`: a waiting message whose answer is being written below it (no "waiting" note then). */
function BubbleView({ bubble, now, answerShowing }: { bubble: Bubble; now: number; answerShowing: boolean }) {
  const { t } = useTranslation('chat');
  const text = bubbleText(bubble);
  const time = (
    <time className="chat-time" dateTime={new Date(bubble.at).toISOString()} title={localTime(bubble.at)}>
      {relativeTime(bubble.at, now)}
    </time>
  );
  if (bubble.role === 'user') {
    return (
      <div className={`chat-bubble chat-bubble-user chat-${bubble.state}`} data-role="user" data-message-id={bubble.messageId}>
        {bubble.images && (
          <div className="chat-bubble-images">
            {bubble.images.map((img, i) => (
              <img key={i} src={img.url} alt={img.name} title={img.name} />
            ))}
          </div>
        )}
        {(text !== '' || !bubble.images) && <div className="chat-text">{text}</div>}
        <div className="chat-meta">
          {time}
          {bubble.state === 'sending' && <span> · {t('transcript.sending')}</span>}
          {bubble.state === 'waiting' && !answerShowing && <span className="chat-waiting"> · {t('transcript.waiting')}</span>}
          {bubble.state === 'failed' && (
            <span className="chat-failed-text" title={bubble.error}>
              {' '}
              · {t('transcript.notSent')}
            </span>
          )}
        </div>
      </div>
    );
  }
  const streaming = isStreaming(bubble);
  const writing = bubble.partial !== undefined;
  const images = bubbleImages(bubble);
  return (
    <div className="chat-bubble chat-bubble-assistant" data-role="assistant" data-message-id={bubble.messageId} data-state={writing ? 'partial' : undefined} aria-busy={streaming}>
      {(text !== '' || images.length === 0) && (bubble.format === 'markdown' ? <Markdown text={text} /> : <div className="chat-text">{text}</div>)}
      {images.length > 0 && (
        <div className="chat-bubble-images chat-reply-images">
          {images.map((img, i) => (
            <ReplyImage key={i} image={img} />
          ))}
        </div>
      )}
      <div className="chat-meta">
        {time}
        {writing && <span className="chat-waiting"> · {t('transcript.writing')}</span>}
        {streaming && !writing && (
          <span>
            {' '}
            · {t('transcript.receiving', { got: bubble.chunks.filter((c) => c !== undefined).length, total: bubble.count })}
          </span>
        )}
      </div>
    </div>
  );
}

/**
 * An image of the answer, from the URL the reply carries (its bytes as a data: URL, or the agent's
 * link). One that does not load (expired link, host unreachable) leaves a note, with the link to try.
 */
function ReplyImage({ image }: { image: ImageChunk }) {
  const { t } = useTranslation('chat');
  const [failed, setFailed] = useState(false);
  const url = showableImageUrl(image.url);
  const alt = image.alt || t('image.alt');
  if (!url || failed) {
    const link = url && !url.startsWith('data:') ? url : undefined;
    return (
      <span className="chat-image-missing">
        {image.alt ? t('image.notShownAlt', { alt: image.alt }) : t('image.notShown')}
        {link && (
          <>
            {' '}
            <Trans t={t} i18nKey="image.open" components={{ link: <a href={link} target="_blank" rel="noopener noreferrer" /> }} />
          </>
        )}
      </span>
    );
  }
  return <img src={url} alt={alt} title={image.alt || undefined} loading="lazy" referrerPolicy="no-referrer" onError={() => setFailed(true)} />;
}
