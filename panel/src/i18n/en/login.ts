/** English texts of the panel's login part. Keys are stable; zh/login.ts has the same keys. */
export default {};
