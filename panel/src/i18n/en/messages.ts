/** English texts of the panel's messages part. Keys are stable; zh/messages.ts has the same keys. */
export default {};
