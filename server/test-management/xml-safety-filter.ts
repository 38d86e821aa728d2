import { AppError } from '../http/app-error';

/** Limits the filter enforces; the defaults suit JUnit reports of any real size. */
export interface XmlSafetyLimits {
  /** Longest attribute value accepted; longer ones are hostile or broken (400). */
  maxAttributeChars: number;
  /** Longest run of text or CDATA the parser is allowed to accumulate before it must hand it over. */
  maxTextRunChars: number;
  /** Longest start tag, comment or processing instruction accepted (400 beyond). */
  maxMarkupChars: number;
}

export const defaultXmlSafetyLimits: XmlSafetyLimits = {
  maxAttributeChars: 1_000_000,
  maxTextRunChars: 65_536,
  maxMarkupChars: 4_000_000,
};

const enum State {
  Text,
  Open,
  Bang,
  Tag,
  Comment,
  Cdata,
  ProcessingInstruction,
}

const LT = 60; // <
const GT = 62; // >
const BANG = 33; // !
const QUESTION = 63; // ?
const QUOTE = 34; // "
const APOSTROPHE = 39; // '
const AMPERSAND = 38; // &
const SEMICOLON = 59; // ;
const DASH = 45; // -
const BRACKET = 93; // ]

/**
 * A character-level pass in front of the XML parser, for three reasons the parser cannot serve:
 * 1. DOCTYPE (and with it ENTITY) declarations are refused before any of them is read, so
 *    neither external entities (XXE) nor entity expansion (billion laughs) can ever happen.
 * 2. A huge attribute or start tag is refused as soon as it passes the limit, instead of being
 *    accumulated into one enormous string first.
 * 3. Long text and CDATA runs (50 MB of system-out) are split while streaming: every
 *    `maxTextRunChars` an empty CDATA section (in text) or a CDATA restart (in CDATA) is
 *    inserted, which makes the parser hand over the text so far. The document means the same,
 *    the parser never holds a whole run, and the receiver keeps only head and tail.
 * It understands just enough XML (tags with quoted attributes, comments, CDATA, PIs) to know
 * where it is; the real parser still checks well-formedness of everything passed on.
 */
export class XmlSafetyFilter {
  private state = State.Text;
  private run = 0;
  private markup = 0;
  private quote = 0;
  private bang = '';
  /** An entity reference (&amp;) is open in the text: never split inside it. */
  private entityOpen = false;
  /** Element depth: text outside the root element cannot carry a CDATA section. */
  private depth = 0;
  private closing = false;
  private tail1 = 0;
  private tail2 = 0;

  constructor(private readonly limits: XmlSafetyLimits = defaultXmlSafetyLimits) {}

  /** Returns the part of `chunk` to hand to the parser; throws AppError('invalid_xml') on hostile input. */
  filter(chunk: string): string {
    const pieces: string[] = [];
    let emitFrom = 0;
    for (let index = 0; index < chunk.length; index += 1) {
      const code = chunk.charCodeAt(index);
      switch (this.state) {
        case State.Text:
          if (code === LT) {
            this.state = State.Open;
            this.run = 0;
            this.markup = 1;
            this.entityOpen = false;
            break;
          }
          this.run += 1;
          if (code === AMPERSAND) this.entityOpen = true;
          else if (code === SEMICOLON) this.entityOpen = false;
          if (this.run >= this.limits.maxTextRunChars && !this.entityOpen && this.depth > 0) {
            // An empty CDATA section is a no-op in XML, but it makes the parser emit the text so far.
            pieces.push(chunk.slice(emitFrom, index + 1), '<![CDATA[]]>');
            emitFrom = index + 1;
            this.run = 0;
          }
          break;
        case State.Open:
          this.markup += 1;
          if (code === BANG) {
            this.state = State.Bang;
            this.bang = '';
          } else if (code === QUESTION) {
            this.state = State.ProcessingInstruction;
          } else {
            this.state = State.Tag;
            this.quote = 0;
            this.closing = code === 47; // </name>
            this.tail1 = code;
            if (code === GT) this.state = State.Text;
          }
          break;
        case State.Bang:
          this.markup += 1;
          this.bang += String.fromCharCode(code);
          if (this.bang === '--') {
            this.state = State.Comment;
            this.tail1 = this.tail2 = 0;
          } else if (this.bang === '[CDATA[') {
            this.state = State.Cdata;
            this.run = 0;
            this.tail1 = this.tail2 = 0;
          } else if (!'--'.startsWith(this.bang) && !'[CDATA['.startsWith(this.bang)) {
            const word = this.bang.toUpperCase();
            if ('DOCTYPE'.startsWith(word) || 'ENTITY'.startsWith(word)) {
              throw new AppError(
                'invalid_xml',
                'The XML contains a DOCTYPE or ENTITY declaration; these are refused because they enable entity expansion and external entities (XXE). JUnit reports never need them.',
              );
            }
            throw new AppError('invalid_xml', `The XML contains an unsupported declaration "<!${this.bang}"`);
          }
          break;
        case State.Tag:
          this.markup += 1;
          if (this.quote !== 0) {
            if (code === this.quote) this.quote = 0;
            else {
              this.run += 1;
              if (this.run > this.limits.maxAttributeChars) {
                throw new AppError('invalid_xml', `An attribute value is longer than ${this.limits.maxAttributeChars} characters; the report looks broken or hostile.`);
              }
            }
          } else if (code === QUOTE || code === APOSTROPHE) {
            this.quote = code;
            this.run = 0;
          } else if (code === GT) {
            if (this.closing) this.depth -= 1;
            else if (this.tail1 !== 47) this.depth += 1; // not <empty/>
            this.state = State.Text;
            this.run = 0;
            break;
          }
          this.tail1 = code;
          if (this.markup > this.limits.maxMarkupChars) {
            throw new AppError('invalid_xml', `A start tag is longer than ${this.limits.maxMarkupChars} characters; the report looks broken or hostile.`);
          }
          break;
        case State.Comment:
          this.markup += 1;
          if (code === GT && this.tail1 === DASH && this.tail2 === DASH) this.state = State.Text;
          else if (this.markup > this.limits.maxMarkupChars) throw new AppError('invalid_xml', 'An XML comment is too long.');
          this.tail2 = this.tail1;
          this.tail1 = code;
          break;
        case State.ProcessingInstruction:
          this.markup += 1;
          if (code === GT && this.tail1 === QUESTION) this.state = State.Text;
          else if (this.markup > this.limits.maxMarkupChars) throw new AppError('invalid_xml', 'An XML processing instruction is too long.');
          this.tail1 = code;
          break;
        case State.Cdata: {
          const ends = code === GT && this.tail1 === BRACKET && this.tail2 === BRACKET;
          this.tail2 = this.tail1;
          this.tail1 = code;
          if (ends) {
            this.state = State.Text;
            this.run = 0;
            break;
          }
          this.run += 1;
          // Never split right after a "]", which could be the start of the real terminator.
          if (this.run >= this.limits.maxTextRunChars && code !== BRACKET) {
            pieces.push(chunk.slice(emitFrom, index + 1), ']]><![CDATA[');
            emitFrom = index + 1;
            this.run = 0;
          }
          break;
        }
      }
    }
    pieces.push(chunk.slice(emitFrom));
    return pieces.length === 1 ? pieces[0] : pieces.join('');
  }
}
