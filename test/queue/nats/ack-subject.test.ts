import { describe, expect, it } from 'vitest';
import { parseAckSubject } from '../../../src/queue/nats/ack-subject.ts';

describe('parseAckSubject', () => {
  it('reads stream and consumer sequences from the classic ack subject', () => {
    expect(parseAckSubject('$JS.ACK.SD_MAIN.main_d.2.17.9.1795455453138854541.5')).toEqual({
      stream: 'SD_MAIN',
      consumer: 'main_d',
      deliveryCount: 2,
      streamSeq: 17,
      consumerSeq: 9,
      pending: 5,
    });
  });

  it('reads the form with domain and account hash', () => {
    expect(
      parseAckSubject('$JS.ACK.hub.ACCHASH.SD_MAIN.main_d.1.3.3.1795455453138854541.0.tok'),
    ).toMatchObject({ stream: 'SD_MAIN', streamSeq: 3, consumerSeq: 3, pending: 0 });
  });

  it('rejects anything that cannot position a message', () => {
    for (const subject of [
      undefined,
      '',
      '_INBOX.abc',
      '$JS.ACK.S.c.1.x.1.1.0',
      '$JS.ACK.S.c.1.0.1.1.0',
      '$JS.ACK.S.c.1.2',
    ]) {
      expect(parseAckSubject(subject)).toBeUndefined();
    }
  });
});
