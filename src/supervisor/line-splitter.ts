import { StringDecoder } from 'node:string_decoder';

/** Lines longer than this are cut into pieces, so a worker writing without newlines cannot grow our memory. */
export const MAX_LINE_LENGTH = 16 * 1024;

/**
 * Cuts a byte stream into text lines: UTF-8 decoded across chunk boundaries, `\n` or `\r\n`
 * ends a line, and whatever is left when the stream ends is the last line.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private readonly maxLength: number;
  private pending = '';

  constructor(maxLength: number = MAX_LINE_LENGTH) {
    this.maxLength = maxLength;
  }

  push(chunk: Buffer): string[] {
    return this.take(this.pending + this.decoder.write(chunk));
  }

  end(): string[] {
    const lines = this.take(this.pending + this.decoder.end());
    const last = this.pending;
    this.pending = '';
    if (last.length > 0) lines.push(last);
    return lines;
  }

  private take(text: string): string[] {
    const lines: string[] = [];
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      lines.push(...this.cut(text.slice(from, text.charAt(nl - 1) === '\r' ? nl - 1 : nl)));
      from = nl + 1;
    }
    let rest = text.slice(from);
    while (rest.length > this.maxLength) {
      lines.push(rest.slice(0, this.maxLength));
      rest = rest.slice(this.maxLength);
    }
    this.pending = rest;
    return lines;
  }

  private cut(line: string): string[] {
    if (line.length <= this.maxLength) return [line];
    const pieces: string[] = [];
    for (let i = 0; i < line.length; i += this.maxLength)
      pieces.push(line.slice(i, i + this.maxLength));
    return pieces;
  }
}
