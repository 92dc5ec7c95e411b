/** English texts of the panel's login part. Keys are stable; zh/login.ts has the same keys. */
export default {
  unreachable: 'Cannot reach the gateway. Is it running?',
  help: "Sign in with the gateway's admin token (printed when the gateway starts, or set as COCOCAT_ADMIN_TOKEN), or with your operator token.",
  token: 'Admin token',
  submit: 'Log in',
};
