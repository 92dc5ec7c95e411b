import type { ButtonHTMLAttributes } from 'react';

type Variant = 'primary' | 'secondary' | 'danger' | 'quiet';

interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
  small?: boolean;
  /** Shows a busy state and blocks double submits. */
  busy?: boolean;
}

/** A real <button> (type="button" unless told otherwise, so it never submits a form by accident). */
export function Button({ variant = 'secondary', small, busy, className, type = 'button', disabled, children, ...rest }: ButtonProps) {
  const classes = ['btn', `btn-${variant}`, small && 'btn-small', className].filter(Boolean).join(' ');
  return (
    <button {...rest} type={type} className={classes} disabled={disabled || busy} aria-busy={busy || undefined}>
      {children}
    </button>
  );
}
