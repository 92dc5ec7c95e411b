import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import {
  branchesOf,
  branchFor,
  choices,
  fieldKind,
  fieldText,
  type Draft,
  type FieldErrors,
  type SecretModes,
} from './schema';
import type { JsonSchema, SecretState } from './types';

interface SchemaFormProps {
  schema: JsonSchema;
  draft: Draft;
  onDraft(name: string, value: string | boolean): void;
  errors: FieldErrors;
  /** Stored state of the write-only fields (absent for a new item). */
  secrets?: Record<string, SecretState>;
  secretModes: SecretModes;
  onSecretMode(name: string, mode: SecretModes[string]): void;
  /** Prefix of the inputs' ids, unique on the page. */
  idPrefix: string;
}

/** Draws a form from a JSON Schema: one labelled input per property, help text and the error under it. */
export function SchemaForm(props: SchemaFormProps) {
  const { t } = useTranslation();
  const { schema, draft, idPrefix } = props;
  const branches = branchesOf(schema);
  const branch = branchFor(schema, draft);
  return (
    <div className="schema-form">
      {branches && (
        <Field id={`${idPrefix}-${branches.discriminator}`} label={fieldText(branches.discriminator, branches.options[0]?.schema.properties?.[branches.discriminator]).label} required error={props.errors[branches.discriminator]}>
          {(aria) => (
            <select {...aria} value={String(draft[branches.discriminator] ?? '')} onChange={(e) => props.onDraft(branches.discriminator, e.target.value)}>
              {branches.options.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.value}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      {branch ? (
        Object.entries(branch.properties ?? {})
          .filter(([, prop]) => prop.const === undefined)
          .map(([name, prop]) => (
            <PropertyField key={name} name={name} prop={prop} required={(branch.required ?? []).includes(name)} {...props} />
          ))
      ) : (
        <p className="muted">{t('form.noFields')}</p>
      )}
    </div>
  );
}

export type Aria = { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean; required?: boolean };

interface FieldProps {
  id: string;
  label: string;
  help?: string;
  error?: string;
  required?: boolean;
  /** Shown beside the label, e.g. a secret's "set" badge. */
  extra?: ReactNode;
  children(aria: Aria): ReactNode;
  /** Checkboxes put the label after the box. */
  inline?: boolean;
}

/** A label, the input, its help and its error, wired together for screen readers. */
export function Field({ id, label, help, error, required, extra, children, inline }: FieldProps) {
  const described = [help && `${id}-help`, error && `${id}-error`].filter(Boolean).join(' ');
  const aria: Aria = { id, 'aria-describedby': described || undefined, 'aria-invalid': error ? true : undefined, required: required || undefined };
  // The asterisk stays outside the label so the field's name is just its label; `required` tells assistive tech.
  const labelEl = (
    <span className="label-line">
      <label htmlFor={id}>{label}</label>
      {required && (
        <span className="required" aria-hidden="true">
          *
        </span>
      )}
    </span>
  );
  return (
    <div className={`field${inline ? ' field-inline' : ''}${error ? ' field-invalid' : ''}`}>
      {inline ? (
        <div className="field-check">
          {children(aria)}
          {labelEl}
        </div>
      ) : (
        <div className="field-label">
          {labelEl}
          {extra}
        </div>
      )}
      {!inline && children(aria)}
      {help && (
        <p className="field-help" id={`${id}-help`}>
          {help}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

function PropertyField(props: SchemaFormProps & { name: string; prop: JsonSchema; required: boolean }) {
  const { t } = useTranslation();
  const { name, prop, required, draft, onDraft, idPrefix } = props;
  const id = `${idPrefix}-${name}`;
  const kind = fieldKind(prop);
  const value = draft[name] ?? '';
  const common = { id, ...fieldText(name, prop), error: props.errors[name], required };

  if (kind === 'secret') return <SecretField {...props} {...common} />;
  if (kind === 'boolean') {
    return (
      <Field {...common} inline>
        {(aria) => <input type="checkbox" {...aria} checked={value === true} onChange={(e) => onDraft(name, e.target.checked)} />}
      </Field>
    );
  }
  return (
    <Field {...common}>
      {(aria) => {
        const text = String(value);
        const set = (v: string) => onDraft(name, v);
        switch (kind) {
          case 'enum':
            return (
              <select {...aria} value={text} onChange={(e) => set(e.target.value)}>
                {(!required || prop.default === undefined) && <option value="">{prop.default === undefined ? '—' : t('form.default', { value: String(prop.default) })}</option>}
                {choices(prop).map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
            );
          case 'number':
            return (
              <input
                {...aria}
                type="number"
                inputMode="numeric"
                min={prop.minimum}
                max={prop.maximum}
                value={text}
                placeholder={prop.default !== undefined ? String(prop.default) : undefined}
                onChange={(e) => set(e.target.value)}
              />
            );
          case 'suggest':
            return (
              <>
                <input {...aria} type="text" list={`${id}-choices`} value={text} onChange={(e) => set(e.target.value)} />
                <datalist id={`${id}-choices`}>
                  {choices(prop).map((c) => (
                    <option key={c} value={c} />
                  ))}
                </datalist>
              </>
            );
          case 'text':
            return <textarea {...aria} rows={5} value={text} onChange={(e) => set(e.target.value)} />;
          case 'list':
            if (prop.items?.enum) return <ListPicker aria={aria} label={common.label} options={prop.items.enum.map(String)} text={text} onChange={set} />;
            return <textarea {...aria} rows={3} value={text} placeholder={t('form.onePerLine')} onChange={(e) => set(e.target.value)} />;
          case 'json':
            return <textarea {...aria} className="mono" rows={4} value={text} placeholder="JSON" onChange={(e) => set(e.target.value)} />;
          default:
            return (
              <input
                {...aria}
                type={prop.format === 'uri' ? 'url' : 'text'}
                value={text}
                placeholder={prop.default !== undefined && prop.default !== '' ? String(prop.default) : undefined}
                onChange={(e) => set(e.target.value)}
              />
            );
        }
      }}
    </Field>
  );
}

/**
 * A list whose items come from known values (a scene's roster from the agents): one checkbox
 * each, kept in the order they were ticked, which the list's numbers show. Values no longer known
 * stay listed while ticked, so they can be unticked.
 */
function ListPicker({ aria, label, options, text, onChange }: { aria: Aria; label: string; options: string[]; text: string; onChange(text: string): void }) {
  const { t } = useTranslation();
  const picked = text.split('\n').map((v) => v.trim()).filter(Boolean);
  const all = [...picked.filter((v) => !options.includes(v)), ...options];
  const toggle = (v: string, on: boolean) => onChange((on ? [...picked, v] : picked.filter((p) => p !== v)).join('\n'));
  if (all.length === 0) return <p className="muted" id={aria.id}>{t('form.nothingToChoose')}</p>;
  return (
    <div role="group" id={aria.id} aria-label={label} aria-describedby={aria['aria-describedby']} aria-invalid={aria['aria-invalid']} className="list-picker">
      {all.map((v) => {
        const order = picked.indexOf(v);
        return (
          <label key={v} className="list-picker-item">
            <input type="checkbox" checked={order >= 0} onChange={(e) => toggle(v, e.target.checked)} />
            <span>{v}</span>
            {order >= 0 && <span className="list-picker-order">#{order + 1}</span>}
          </label>
        );
      })}
    </div>
  );
}

/**
 * A write-only field: the stored value never reaches the browser, so the input starts empty and
 * the field says whether a value is set; "Replace" opens the input, "Cancel" keeps the stored one.
 */
function SecretField(props: SchemaFormProps & { name: string; prop: JsonSchema; id: string; label: string; help?: string; error?: string; required: boolean }) {
  const { t } = useTranslation();
  const { name, id, secrets, secretModes, onSecretMode, draft, onDraft, required } = props;
  const state = secrets?.[name];
  const mode = secretModes[name] ?? 'replace';
  const stored = state?.set === true;
  const badge = secrets ? (
    <span className={`secret-state ${mode === 'clear' ? 'is-clearing' : stored ? 'is-set' : 'is-unset'}`} id={`${id}-state`}>
      {mode === 'clear' ? t('secret.willBeRemoved') : stored ? (state?.source === 'env' ? t('secret.setFromEnv') : t('secret.set')) : t('secret.notSet')}
    </span>
  ) : undefined;
  return (
    <Field {...props} required={required && !stored} extra={badge}>
      {(aria) => {
        const describedBy = [aria['aria-describedby'], badge ? `${id}-state` : undefined].filter(Boolean).join(' ') || undefined;
        if (mode === 'replace') {
          return (
            <div className="secret-row">
              <input
                {...aria}
                aria-describedby={describedBy}
                type="password"
                autoComplete="new-password"
                spellCheck={false}
                value={String(draft[name] ?? '')}
                placeholder={stored ? t('secret.newValue') : undefined}
                onChange={(e) => onDraft(name, e.target.value)}
              />
              {stored && (
                <button type="button" className="btn btn-small" onClick={() => (onDraft(name, ''), onSecretMode(name, 'keep'))}>
                  {t('secret.keepCurrent')}
                </button>
              )}
            </div>
          );
        }
        return (
          <div className="secret-row">
            {/* Not an input: nothing to fill, so the label points at the Replace button. */}
            <button
              type="button"
              id={id}
              aria-label={t('secret.replaceLabel', { label: props.label })}
              aria-describedby={describedBy}
              className="btn btn-small"
              onClick={() => onSecretMode(name, 'replace')}
            >
              {t('secret.replace')}
            </button>
            {!required && mode === 'keep' && (
              <button type="button" className="btn btn-small btn-quiet" aria-label={t('secret.removeLabel', { label: props.label })} onClick={() => onSecretMode(name, 'clear')}>
                {t('secret.remove')}
              </button>
            )}
            {mode === 'clear' && (
              <button type="button" className="btn btn-small btn-quiet" onClick={() => onSecretMode(name, 'keep')}>
                {t('secret.undo')}
              </button>
            )}
          </div>
        );
      }}
    </Field>
  );
}

/** An id typed by hand (agent, scene, entry): no autocomplete or spell-checking. */
export function IdInput({ aria, value, placeholder, onChange }: { aria: Aria; value: string; placeholder?: string; onChange(value: string): void }) {
  return <input {...aria} type="text" autoComplete="off" spellCheck={false} placeholder={placeholder} value={value} onChange={(e) => onChange(e.target.value)} />;
}
