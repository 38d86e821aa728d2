import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { AppError } from '../http/app-error';
import { defaultXmlSafetyLimits, XmlSafetyFilter, type XmlSafetyLimits } from './xml-safety-filter';

export type TestStatus = 'passed' | 'failed' | 'error' | 'skipped';

/** One `<testcase>` as a runner wrote it, with text fields already truncated. */
export interface ParsedTestCase {
  /** Names of the enclosing `<testsuite>` elements, outermost first. */
  suitePath: string[];
  classname: string;
  name: string;
  file: string | null;
  /** Playwright project (its `<testsuite hostname>`), only for Playwright reports. */
  project: string | null;
  status: TestStatus;
  durationMs: number | null;
  message: string | null;
  failureType: string | null;
  /** Body of `<failure>`/`<error>`: the stack trace or diff. */
  details: string | null;
  /** `system-out` and `system-err`, truncated. */
  output: string | null;
  /** Test case properties, plus requirement properties inherited from its suites. */
  properties: Array<[string, string]>;
  /** Surefire's `<flakyFailure>`/`<flakyError>`: failed, then passed on a rerun. */
  flakyOnRerun: boolean;
}

export interface JunitParserOptions {
  limits?: XmlSafetyLimits;
  /** Characters kept of a failure message; of details; of output. */
  maxMessageChars?: number;
  maxDetailsChars?: number;
  maxOutputChars?: number;
  maxDepth?: number;
}

/** Keeps the head and the tail of a long text (the end of a log is usually what matters). */
class CappedText {
  private head = '';
  private tail = '';
  private total = 0;
  constructor(private readonly cap: number) {}
  append(text: string): void {
    this.total += text.length;
    const half = this.cap >> 1;
    if (this.head.length < half) {
      const take = Math.min(half - this.head.length, text.length);
      this.head += text.slice(0, take);
      text = text.slice(take);
    }
    if (text) this.tail = (this.tail + text).slice(-half);
  }
  get length(): number {
    return this.total;
  }
  value(): string {
    const dropped = this.total - this.head.length - this.tail.length;
    return dropped > 0 ? `${this.head}\n… [${dropped} characters truncated] …\n${this.tail}` : this.head + this.tail;
  }
}

interface SuiteFrame {
  name: string;
  hostname: string | null;
  inheritedProperties: Array<[string, string]>;
}

interface CaseDraft {
  attributes: Record<string, string>;
  status: TestStatus;
  message: string | null;
  failureType: string | null;
  details: CappedText | null;
  output: CappedText | null;
  properties: Array<[string, string]>;
  flakyOnRerun: boolean;
}

const rank: Record<TestStatus, number> = { passed: 0, skipped: 1, failed: 2, error: 3 };
const inheritedPropertyNames = /^(requirements?|refs|references|story)$/i;

/**
 * Streaming JUnit XML parser: feed it text chunks, it calls `onTestCase` for each `<testcase>`
 * as soon as the element closes, so memory depends on the largest test, not on the file.
 * Understands the dialects of Maven Surefire, pytest (xunit1/xunit2), jest-junit, Vitest,
 * Playwright, gotestsum and nested `<testsuites>`/`<testsuite>`. DOCTYPE/ENTITY declarations,
 * huge attributes and malformed XML end in AppError('invalid_xml') with line and column.
 */
export class JunitParser {
  private readonly parser: SaxesParser;
  private readonly filter: XmlSafetyFilter;
  private readonly options: Required<Omit<JunitParserOptions, 'limits'>>;
  private readonly suites: SuiteFrame[] = [];
  private current: CaseDraft | null = null;
  private collecting: 'details' | 'output' | 'property' | null = null;
  private propertyName: string | null = null;
  private propertyText = '';
  private inProperties: 'suite' | 'case' | null = null;
  private depth = 0;
  private sawRoot = false;
  private isPlaywright = false;
  private started = false;
  private pending: ParsedTestCase[] = [];
  private failure: AppError | null = null;
  /** Number of `<testcase>` elements seen so far. */
  testCaseCount = 0;

  constructor(
    private readonly onTestCase: (testCase: ParsedTestCase) => void,
    options: JunitParserOptions = {},
  ) {
    this.filter = new XmlSafetyFilter(options.limits ?? defaultXmlSafetyLimits);
    this.options = {
      maxMessageChars: options.maxMessageChars ?? 4000,
      maxDetailsChars: options.maxDetailsChars ?? 16_000,
      maxOutputChars: options.maxOutputChars ?? 16_000,
      maxDepth: options.maxDepth ?? 64,
    };
    this.parser = new SaxesParser({ position: true });
    this.parser.on('error', (error) => {
      this.failure ??= new AppError('invalid_xml', `The report is not well-formed XML: ${error.message}`);
    });
    this.parser.on('doctype', () => {
      this.failure ??= new AppError('invalid_xml', 'The XML contains a DOCTYPE declaration; it is refused (XXE and entity expansion).');
    });
    this.parser.on('opentag', (tag) => this.open(tag));
    this.parser.on('closetag', (tag) => this.close(tag));
    this.parser.on('text', (text) => this.text(text));
    this.parser.on('cdata', (text) => this.text(text));
  }

  /** Feeds the next chunk of the document (any split, even inside a tag). */
  write(chunk: string): void {
    if (this.failure) throw this.failure;
    // A UTF-8 byte-order mark before the XML declaration is common in reports written on Windows.
    const text = !this.started && chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk;
    if (chunk.length > 0) this.started = true;
    const safe = this.filter.filter(text);
    try {
      this.parser.write(safe);
    } catch (error) {
      this.failure ??= error instanceof AppError ? error : new AppError('invalid_xml', `The report is not well-formed XML: ${(error as Error).message}`);
    }
    this.flush();
  }

  /** Ends the document; throws when it was empty, truncated or not JUnit. */
  end(): void {
    if (this.failure) throw this.failure;
    try {
      this.parser.close();
    } catch (error) {
      this.failure ??= error instanceof AppError ? error : new AppError('invalid_xml', `The report is not well-formed XML: ${(error as Error).message}`);
    }
    if (this.failure) throw this.failure;
    if (!this.sawRoot) throw new AppError('invalid_xml', 'The report is empty: expected a <testsuites> or <testsuite> element');
    this.flush();
  }

  private flush(): void {
    if (this.failure) {
      this.pending = [];
      throw this.failure;
    }
    const ready = this.pending;
    this.pending = [];
    for (const testCase of ready) this.onTestCase(testCase);
  }

  private fail(message: string): void {
    const where = ` (line ${this.parser.line}, column ${this.parser.column})`;
    this.failure ??= new AppError('invalid_xml', message + where);
    throw this.failure;
  }

  private open(tag: SaxesTagPlain): void {
    this.depth += 1;
    if (this.depth > this.options.maxDepth) this.fail(`Elements are nested deeper than ${this.options.maxDepth} levels`);
    const attributes = tag.attributes as Record<string, string>;
    if (!this.sawRoot) {
      this.sawRoot = true;
      if (tag.name !== 'testsuites' && tag.name !== 'testsuite') {
        this.fail(`This is not a JUnit report: the root element is <${tag.name}>, expected <testsuites> or <testsuite>`);
      }
      // Playwright's reporter is the one that writes an id on the root and the project as hostname.
      this.isPlaywright = tag.name === 'testsuites' && 'id' in attributes;
    }
    const draft = this.current;
    switch (tag.name) {
      case 'testsuite': {
        const parent = this.suites.at(-1);
        this.suites.push({
          name: attributes.name ?? '',
          hostname: attributes.hostname || null,
          inheritedProperties: parent ? [...parent.inheritedProperties] : [],
        });
        return;
      }
      case 'testcase':
        this.current = {
          attributes,
          status: 'passed',
          message: null,
          failureType: null,
          details: null,
          output: null,
          properties: [],
          flakyOnRerun: false,
        };
        if (attributes.status === 'skipped' || attributes.status === 'disabled') this.current.status = 'skipped';
        return;
      case 'properties':
        this.inProperties = draft ? 'case' : 'suite';
        return;
      case 'property':
        if (!this.inProperties) return;
        this.propertyName = attributes.name ?? '';
        if (attributes.value !== undefined) this.addProperty(this.propertyName, attributes.value);
        else {
          this.collecting = 'property';
          this.propertyText = '';
        }
        return;
    }
    if (!draft) return;
    switch (tag.name) {
      case 'failure':
      case 'error':
      case 'skipped': {
        const status: TestStatus = tag.name === 'failure' ? 'failed' : tag.name === 'error' ? 'error' : 'skipped';
        if (rank[status] >= rank[draft.status]) {
          draft.status = status;
          const message = attributes.message ?? null;
          if (message) draft.message = message.slice(0, this.options.maxMessageChars);
          if (attributes.type) draft.failureType = attributes.type.slice(0, 300);
        }
        if (status !== 'skipped') {
          draft.details ??= new CappedText(this.options.maxDetailsChars);
          this.collecting = 'details';
        }
        return;
      }
      case 'flakyFailure':
      case 'flakyError':
        draft.flakyOnRerun = true;
        return;
      case 'system-out':
      case 'system-err':
        draft.output ??= new CappedText(this.options.maxOutputChars);
        this.collecting = 'output';
        return;
    }
  }

  private text(text: string): void {
    const draft = this.current;
    switch (this.collecting) {
      case 'details':
        draft?.details?.append(text);
        return;
      case 'output':
        draft?.output?.append(text);
        return;
      case 'property':
        if (this.propertyText.length < 10_000) this.propertyText += text.slice(0, 10_000);
        return;
    }
  }

  private addProperty(name: string, value: string): void {
    const entry: [string, string] = [name.slice(0, 200), value.trim().slice(0, 2000)];
    if (this.inProperties === 'case') this.current?.properties.push(entry);
    else if (this.inProperties === 'suite' && inheritedPropertyNames.test(name)) this.suites.at(-1)?.inheritedProperties.push(entry);
  }

  private close(tag: SaxesTagPlain): void {
    this.depth -= 1;
    switch (tag.name) {
      case 'testsuite':
        this.suites.pop();
        return;
      case 'properties':
        this.inProperties = null;
        return;
      case 'property':
        if (this.collecting === 'property' && this.propertyName !== null) this.addProperty(this.propertyName, this.propertyText);
        this.collecting = null;
        this.propertyName = null;
        return;
      case 'failure':
      case 'error':
      case 'system-out':
      case 'system-err':
        this.collecting = null;
        return;
      case 'testcase':
        this.finishCase();
        return;
    }
  }

  private finishCase(): void {
    const draft = this.current;
    this.current = null;
    this.collecting = null;
    if (!draft) return;
    this.testCaseCount += 1;
    const attributes = draft.attributes;
    const suite = this.suites.at(-1);
    const details = draft.details && draft.details.length > 0 ? draft.details.value().trim() : null;
    let message = draft.message;
    if (!message && details && (draft.status === 'failed' || draft.status === 'error')) {
      message = details.split('\n').find((line) => line.trim())?.trim().slice(0, this.options.maxMessageChars) ?? null;
    }
    const output = draft.output && draft.output.length > 0 ? draft.output.value().trim() : null;
    const seconds = attributes.time ? Number(attributes.time.replace(/,/g, '')) : Number.NaN;
    this.pending.push({
      suitePath: this.suites.map((frame) => frame.name),
      classname: attributes.classname ?? attributes.class ?? suite?.name ?? '',
      name: attributes.name ?? '',
      file: attributes.file ?? null,
      project: this.isPlaywright ? (suite?.hostname ?? null) : null,
      status: draft.status,
      durationMs: Number.isFinite(seconds) && seconds >= 0 ? Math.min(Math.round(seconds * 1000), 2_000_000_000) : null,
      message,
      failureType: draft.failureType,
      details,
      output: output || null,
      properties: [...(suite?.inheritedProperties ?? []), ...draft.properties],
      flakyOnRerun: draft.flakyOnRerun && draft.status === 'passed',
    });
  }
}

/** Parses a whole stream of text chunks (a file, a request body); convenient for tests and the CLI. */
export async function parseJunitStream(chunks: AsyncIterable<string | Buffer>, options?: JunitParserOptions): Promise<ParsedTestCase[]> {
  const cases: ParsedTestCase[] = [];
  const parser = new JunitParser((testCase) => cases.push(testCase), options);
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) parser.write(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
  const rest = decoder.decode();
  if (rest) parser.write(rest);
  parser.end();
  return cases;
}
