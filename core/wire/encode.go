package wire

import (
	"encoding/binary"
	"unicode/utf8"
)

// The Append functions encode one frame at the end of dst and return the
// extended slice. They do not check limits: callers keep frames within the
// peer's frame size limit (see PublishSize and BeginDeliver).

var be = binary.BigEndian

// begin appends a frame header with a placeholder length and returns the
// offset of the frame's start, for end to patch.
func begin(dst []byte, t Type) ([]byte, int) {
	start := len(dst)
	return append(dst, 0, 0, 0, 0, byte(t)), start
}

// end patches the length prefix of the frame that starts at start.
func end(dst []byte, start int) []byte {
	be.PutUint32(dst[start:], uint32(len(dst)-start-LenSize))
	return dst
}

// AppendHello appends a HELLO frame.
func AppendHello(dst []byte, h Hello) []byte {
	dst, s := begin(dst, TypeHello)
	dst = be.AppendUint16(dst, h.Version)
	dst = be.AppendUint16(dst, h.Flags)
	dst = be.AppendUint16(dst, uint16(len(h.Token)))
	dst = append(dst, h.Token...)
	return end(dst, s)
}

// AppendWelcome appends a WELCOME frame.
func AppendWelcome(dst []byte, w Welcome) []byte {
	dst, s := begin(dst, TypeWelcome)
	dst = be.AppendUint16(dst, w.Version)
	dst = be.AppendUint32(dst, w.MaxFrameSize)
	return end(dst, s)
}

// AppendOpen appends an OPEN frame.
func AppendOpen(dst []byte, corr uint32, name string) []byte {
	dst, s := begin(dst, TypeOpen)
	dst = be.AppendUint32(dst, corr)
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	return end(dst, s)
}

// AppendOpened appends an OPENED frame.
func AppendOpened(dst []byte, o Opened) []byte {
	dst, s := begin(dst, TypeOpened)
	dst = be.AppendUint32(dst, o.Corr)
	dst = be.AppendUint32(dst, o.Handle)
	dst = be.AppendUint64(dst, o.FirstSeq)
	dst = be.AppendUint64(dst, o.LastSeq)
	return end(dst, s)
}

// PublishSize is the encoded size of a PUBLISH frame carrying payloads of
// the given total size and count.
func PublishSize(count, payloadBytes int) int {
	return HeaderSize + 13 + count*PublishRecordHeaderSize + payloadBytes
}

// AppendPublish appends a PUBLISH frame carrying payloads, which must not
// be empty.
func AppendPublish(dst []byte, handle, corr uint32, flags uint8, payloads [][]byte) []byte {
	dst, s := begin(dst, TypePublish)
	dst = be.AppendUint32(dst, handle)
	dst = be.AppendUint32(dst, corr)
	dst = append(dst, flags)
	dst = be.AppendUint32(dst, uint32(len(payloads)))
	for _, p := range payloads {
		dst = be.AppendUint32(dst, uint32(len(p)))
		dst = append(dst, p...)
	}
	return end(dst, s)
}

// ProducerFieldsSize is what FlagProducer adds to a PUBLISH frame: the
// producer id and the batch number.
const ProducerFieldsSize = 16

// AppendPublishProducer appends a PUBLISH frame of an idempotent
// producer's batch: flags gets FlagProducer, and the frame carries
// producer (≠ 0) and pseq (≥ 1). Its size is PublishSize +
// ProducerFieldsSize.
func AppendPublishProducer(dst []byte, handle, corr uint32, flags uint8, producer, pseq uint64, payloads [][]byte) []byte {
	dst, s := begin(dst, TypePublish)
	dst = be.AppendUint32(dst, handle)
	dst = be.AppendUint32(dst, corr)
	dst = append(dst, flags|FlagProducer)
	dst = be.AppendUint64(dst, producer)
	dst = be.AppendUint64(dst, pseq)
	dst = be.AppendUint32(dst, uint32(len(payloads)))
	for _, p := range payloads {
		dst = be.AppendUint32(dst, uint32(len(p)))
		dst = append(dst, p...)
	}
	return end(dst, s)
}

// AppendPublishOne appends a PUBLISH frame carrying a single payload.
func AppendPublishOne(dst []byte, handle, corr uint32, flags uint8, payload []byte) []byte {
	dst, s := begin(dst, TypePublish)
	dst = be.AppendUint32(dst, handle)
	dst = be.AppendUint32(dst, corr)
	dst = append(dst, flags)
	dst = be.AppendUint32(dst, 1)
	dst = be.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, payload...)
	return end(dst, s)
}

// BeginPublishMulti starts a PUBLISH_MULTI frame in dst: append its
// sections with AppendSection and close it with FinishPublishMulti(dst,
// start, sections).
func BeginPublishMulti(dst []byte, corr uint32, flags uint8) (out []byte, start int) {
	dst, s := begin(dst, TypePublishMulti)
	dst = be.AppendUint32(dst, corr)
	dst = append(dst, flags)
	dst = be.AppendUint32(dst, 0)
	return dst, s
}

// AppendSection appends to a PUBLISH_MULTI frame the section publishing
// payloads, which must not be empty, to handle.
func AppendSection(dst []byte, handle uint32, payloads [][]byte) []byte {
	dst = be.AppendUint32(dst, handle)
	dst = be.AppendUint32(dst, uint32(len(payloads)))
	for _, p := range payloads {
		dst = be.AppendUint32(dst, uint32(len(p)))
		dst = append(dst, p...)
	}
	return dst
}

// SectionSize is the encoded size of a PUBLISH_MULTI section of count
// payloads of payloadBytes in total; PublishMultiHeaderSize that of the
// frame without sections.
func SectionSize(count, payloadBytes int) int {
	return sectionHeader + count*PublishRecordHeaderSize + payloadBytes
}

// PublishMultiHeaderSize is the size of a PUBLISH_MULTI frame with no
// section: frame header, corr, flags and section count.
const PublishMultiHeaderSize = HeaderSize + publishMultiHeader

// FinishPublishMulti patches the length and section count of the
// PUBLISH_MULTI frame that BeginPublishMulti started at start.
func FinishPublishMulti(dst []byte, start int, sections uint32) []byte {
	be.PutUint32(dst[start+HeaderSize+5:], sections)
	return end(dst, start)
}

// AppendPubAck appends a PUBACK frame.
func AppendPubAck(dst []byte, a PubAck) []byte {
	dst, s := begin(dst, TypePubAck)
	dst = be.AppendUint32(dst, a.Handle)
	dst = be.AppendUint32(dst, a.Corr)
	dst = be.AppendUint64(dst, a.FirstSeq)
	dst = be.AppendUint32(dst, a.Count)
	return end(dst, s)
}

// AppendSubscribe appends a SUBSCRIBE frame.
func AppendSubscribe(dst []byte, sub Subscribe) []byte {
	dst, s := begin(dst, TypeSubscribe)
	dst = be.AppendUint32(dst, sub.SubID)
	dst = be.AppendUint32(dst, sub.Handle)
	dst = append(dst, sub.Start)
	dst = be.AppendUint64(dst, sub.StartSeq)
	dst = be.AppendUint32(dst, sub.Credits)
	return end(dst, s)
}

// AppendSubscribed appends a SUBSCRIBED frame.
func AppendSubscribed(dst []byte, sub Subscribed) []byte {
	dst, s := begin(dst, TypeSubscribed)
	dst = be.AppendUint32(dst, sub.SubID)
	dst = be.AppendUint64(dst, sub.NextSeq)
	return end(dst, s)
}

// DeliverHeaderSize is the size of a DELIVER frame before its records.
const DeliverHeaderSize = HeaderSize + 12

// BeginDeliver appends the header of a DELIVER frame. Append the records
// (AppendRecord, or bytes copied from a log of records) after it and close
// the frame with FinishDeliver(dst, start, count).
func BeginDeliver(dst []byte, subID, handle uint32) (out []byte, start int) {
	dst, s := begin(dst, TypeDeliver)
	dst = be.AppendUint32(dst, subID)
	dst = be.AppendUint32(dst, handle)
	dst = be.AppendUint32(dst, 0)
	return dst, s
}

// FinishDeliver patches the length and record count of the DELIVER frame
// that BeginDeliver started at start.
func FinishDeliver(dst []byte, start int, count uint32) []byte {
	be.PutUint32(dst[start+HeaderSize+8:], count)
	return end(dst, start)
}

// FinishDeliverRefs closes a DELIVER frame whose records are not in dst
// but follow it on the wire (a vectored write): extra is their size in
// bytes.
func FinishDeliverRefs(dst []byte, start int, count uint32, extra int) []byte {
	be.PutUint32(dst[start+HeaderSize+8:], count)
	be.PutUint32(dst[start:], uint32(len(dst)-start-LenSize+extra))
	return dst
}

// AppendRecord appends one delivery record: seq, timestamp, payload length
// and payload. It is also the layout msnode keeps messages in, so that a
// delivery is a copy of a run of records.
func AppendRecord(dst []byte, seq uint64, ts int64, payload []byte) []byte {
	dst = be.AppendUint64(dst, seq)
	dst = be.AppendUint64(dst, uint64(ts))
	dst = be.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// AppendCredit appends a CREDIT frame.
func AppendCredit(dst []byte, subID, credits uint32) []byte {
	dst, s := begin(dst, TypeCredit)
	dst = be.AppendUint32(dst, subID)
	dst = be.AppendUint32(dst, credits)
	return end(dst, s)
}

// AppendUnsubscribe appends an UNSUBSCRIBE frame.
func AppendUnsubscribe(dst []byte, subID uint32) []byte {
	dst, s := begin(dst, TypeUnsubscribe)
	dst = be.AppendUint32(dst, subID)
	return end(dst, s)
}

// AppendUnsubscribed appends an UNSUBSCRIBED frame.
func AppendUnsubscribed(dst []byte, subID uint32) []byte {
	dst, s := begin(dst, TypeUnsubscribed)
	dst = be.AppendUint32(dst, subID)
	return end(dst, s)
}

// AppendPing appends a PING frame.
func AppendPing(dst []byte, nonce uint64) []byte {
	dst, s := begin(dst, TypePing)
	dst = be.AppendUint64(dst, nonce)
	return end(dst, s)
}

// AppendPong appends a PONG frame.
func AppendPong(dst []byte, nonce uint64) []byte {
	dst, s := begin(dst, TypePong)
	dst = be.AppendUint64(dst, nonce)
	return end(dst, s)
}

// AppendError appends an ERROR frame; text beyond MaxErrorTextLen bytes is
// cut, at a rune boundary.
func AppendError(dst []byte, code Code, corr uint32, text string) []byte {
	if len(text) > MaxErrorTextLen {
		// Cut at a rune boundary, so that valid UTF-8 stays valid.
		n := MaxErrorTextLen
		for n > MaxErrorTextLen-utf8.UTFMax+1 && !utf8.RuneStart(text[n]) {
			n--
		}
		text = text[:n]
	}
	dst, s := begin(dst, TypeError)
	dst = be.AppendUint16(dst, uint16(code))
	dst = be.AppendUint32(dst, corr)
	dst = be.AppendUint16(dst, uint16(len(text)))
	dst = append(dst, text...)
	return end(dst, s)
}
