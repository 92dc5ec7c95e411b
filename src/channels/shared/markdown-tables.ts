/** The lines of a GFM table, as the splitters that keep tables whole read them. */

// A delimiter row: cells of dashes with optional colons, parted by pipes; the row above it is the header.
const DELIMITER_ROW = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

/** A line that can be a table row: not blank, with a pipe. */
export function isTableRow(line: string | undefined): line is string {
  return line !== undefined && line.trim() !== '' && line.includes('|');
}

/** A table's delimiter row: `|---|:-:|`, `--- | ---`. */
export function isDelimiterRow(line: string | undefined): line is string {
  return isTableRow(line) && line.includes('-') && DELIMITER_ROW.test(line);
}
