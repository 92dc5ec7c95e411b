/** English texts of the panel's chat part. Keys are stable; zh/chat.ts has the same keys. */
export default {};
