/**
 * Builds the PostgreSQL array literal (`{"a","b",NULL}`) of a large array parameter, to be cast
 * in SQL: `${arrayLiteral(values)}::text[]` (or `::uuid[]`, `::int[]`, ...). node-postgres turns
 * a JavaScript array into the same literal by appending element by element; for the JUnit
 * importer's batches (13 arrays of 2,500 elements each) that was nearly a third of the import's
 * JavaScript allocations (bench:junit, 100,000 test cases, V8 heap sampling), and the resulting
 * string was a rope that the driver's byte-length scan copied once more. One `join` makes one
 * flat string. Strings are always quoted, so any text (commas, braces, spaces, "NULL") stays one
 * element.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  if (values.length === 0) return '{}';
  const elements = values.map(arrayElement);
  // The braces go into the first and last element, so that the join's result is the literal.
  elements[0] = `{${elements[0]}`;
  elements[elements.length - 1] = `${elements[elements.length - 1]}}`;
  return elements.join(',');
}

const needsEscape = /[\\"]/;

function arrayElement(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value !== 'string') return String(value);
  // Inside double quotes only the backslash and the double quote need a backslash before them.
  return needsEscape.test(value) ? `"${value.replace(/[\\"]/g, '\\$&')}"` : `"${value}"`;
}
