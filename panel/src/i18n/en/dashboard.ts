/** English texts of the panel's dashboard part. Keys are stable; zh/dashboard.ts has the same keys. */
export default {};
