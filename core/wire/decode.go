package wire

import "encoding/binary"

// Frame is one decoded frame. Body aliases the buffer it was parsed from
// and is valid only as long as that buffer is.
type Frame struct {
	Type Type
	Body []byte
}

// Parse decodes the frame at the front of buf and returns it with the
// number of bytes it occupies. maxFrameSize limits the whole frame, length
// prefix included (≤ 0 means DefaultMaxFrameSize). When buf holds only a
// prefix of a valid frame, Parse returns ErrIncomplete; a length beyond the
// limit is ErrFrameTooLarge as soon as the prefix is read, so a peer cannot
// make the reader buffer an oversized frame. Parse never allocates.
func Parse(buf []byte, maxFrameSize int) (Frame, int, error) {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if len(buf) < LenSize {
		return Frame{}, 0, ErrIncomplete
	}
	n := binary.BigEndian.Uint32(buf)
	if n == 0 {
		return Frame{}, 0, ErrEmptyFrame
	}
	if uint64(n)+LenSize > uint64(maxFrameSize) {
		return Frame{}, 0, ErrFrameTooLarge
	}
	total := int(n) + LenSize
	if len(buf) < total {
		if len(buf) > LenSize && !Type(buf[LenSize]).Valid() {
			return Frame{}, 0, ErrUnknownType
		}
		return Frame{}, 0, ErrIncomplete
	}
	t := Type(buf[LenSize])
	if !t.Valid() {
		return Frame{}, 0, ErrUnknownType
	}
	return Frame{Type: t, Body: buf[HeaderSize:total:total]}, total, nil
}

// Hello is the body of a HELLO frame.
type Hello struct {
	Version uint16
	Flags   uint16
	Token   []byte
}

// Welcome is the body of a WELCOME frame.
type Welcome struct {
	Version      uint16
	MaxFrameSize uint32
}

// Open is the body of an OPEN frame.
type Open struct {
	Corr uint32
	Name []byte
}

// Opened is the body of an OPENED frame.
type Opened struct {
	Corr     uint32
	Handle   uint32
	FirstSeq uint64
	LastSeq  uint64
}

// Publish is the body of a PUBLISH frame. Data holds Count records of
// (len u32, payload), already checked to fill the body exactly; iterate them
// with Messages.
type Publish struct {
	Handle uint32
	Corr   uint32
	Flags  uint8
	// Producer and PSeq are the idempotent producer's id and the batch's
	// number when Flags has FlagProducer; both 0 otherwise.
	Producer uint64
	PSeq     uint64
	Count    uint32
	Data     []byte
}

// PubAck is the body of a PUBACK frame.
type PubAck struct {
	Handle   uint32
	Corr     uint32
	FirstSeq uint64
	Count    uint32
}

// Subscribe is the body of a SUBSCRIBE frame.
type Subscribe struct {
	SubID    uint32
	Handle   uint32
	Start    uint8
	StartSeq uint64
	Credits  uint32
}

// Subscribed is the body of a SUBSCRIBED frame.
type Subscribed struct {
	SubID   uint32
	NextSeq uint64
}

// Deliver is the body of a DELIVER frame. Data holds Count records of
// (seq, timestamp, len, payload), already checked to fill the body exactly;
// iterate them with Records.
type Deliver struct {
	SubID  uint32
	Handle uint32
	Count  uint32
	Data   []byte
}

// Credit is the body of a CREDIT frame.
type Credit struct {
	SubID   uint32
	Credits uint32
}

// ErrorFrame is the body of an ERROR frame. Convert it to an error with Err.
type ErrorFrame struct {
	Code Code
	Corr uint32
	Text []byte
}

// Err returns the frame as an *Error, copying the text.
func (e ErrorFrame) Err() *Error {
	return &Error{Code: e.Code, Corr: e.Corr, Text: string(e.Text)}
}

// DecodeHello decodes a HELLO body.
func DecodeHello(b []byte) (Hello, error) {
	if len(b) < 6 {
		return Hello{}, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n > MaxTokenLen || len(b) != 6+n {
		return Hello{}, ErrMalformed
	}
	return Hello{
		Version: binary.BigEndian.Uint16(b),
		Flags:   binary.BigEndian.Uint16(b[2:]),
		Token:   b[6:],
	}, nil
}

// DecodeWelcome decodes a WELCOME body.
func DecodeWelcome(b []byte) (Welcome, error) {
	if len(b) != 6 {
		return Welcome{}, ErrMalformed
	}
	return Welcome{Version: binary.BigEndian.Uint16(b), MaxFrameSize: binary.BigEndian.Uint32(b[2:])}, nil
}

// DecodeOpen decodes an OPEN body. It checks the layout, not the name's
// charset: use ValidStreamName for that, so the node can answer with the
// non-fatal CodeInvalidStreamName.
func DecodeOpen(b []byte) (Open, error) {
	if len(b) < 5 || len(b) != 5+int(b[4]) {
		return Open{}, ErrMalformed
	}
	return Open{Corr: binary.BigEndian.Uint32(b), Name: b[5:]}, nil
}

// DecodeOpened decodes an OPENED body.
func DecodeOpened(b []byte) (Opened, error) {
	if len(b) != 24 {
		return Opened{}, ErrMalformed
	}
	return Opened{
		Corr:     binary.BigEndian.Uint32(b),
		Handle:   binary.BigEndian.Uint32(b[4:]),
		FirstSeq: binary.BigEndian.Uint64(b[8:]),
		LastSeq:  binary.BigEndian.Uint64(b[16:]),
	}, nil
}

// PublishMulti is the body of a PUBLISH_MULTI frame: Sections batches, each
// checked to be well formed; iterate them with Batches.
type PublishMulti struct {
	Corr     uint32
	Flags    uint8
	Sections uint32
	Data     []byte
}

// publishMultiHeader is the size of PUBLISH_MULTI's fixed fields, and
// sectionHeader that of a section's (handle, count).
const (
	publishMultiHeader = 9
	sectionHeader      = 8
)

// DecodePublishMulti decodes a PUBLISH_MULTI body and checks every
// section, so that Batches never fails afterwards.
func DecodePublishMulti(b []byte) (PublishMulti, error) {
	if len(b) < publishMultiHeader {
		return PublishMulti{}, ErrMalformed
	}
	m := PublishMulti{
		Corr:     binary.BigEndian.Uint32(b),
		Flags:    b[4],
		Sections: binary.BigEndian.Uint32(b[5:]),
		Data:     b[publishMultiHeader:],
	}
	// Every section takes at least a header and one record header.
	if m.Sections == 0 || m.Flags&FlagProducer != 0 || uint64(m.Sections)*(sectionHeader+PublishRecordHeaderSize) > uint64(len(m.Data)) {
		return PublishMulti{}, ErrMalformed
	}
	rest := m.Data
	for range m.Sections {
		if len(rest) < sectionHeader {
			return PublishMulti{}, ErrMalformed
		}
		count := binary.BigEndian.Uint32(rest[4:])
		n, ok := recordsLen(rest[sectionHeader:], count, PublishRecordHeaderSize, 0)
		if count == 0 || !ok {
			return PublishMulti{}, ErrMalformed
		}
		rest = rest[sectionHeader+n:]
	}
	if len(rest) != 0 {
		return PublishMulti{}, ErrMalformed
	}
	return m, nil
}

// Batches returns an iterator over the sections of a decoded PUBLISH_MULTI,
// each as the Publish it stands for.
func (m PublishMulti) Batches() BatchIter {
	return BatchIter{rest: m.Data, corr: m.Corr, flags: m.Flags}
}

// BatchIter iterates over the sections of a PUBLISH_MULTI without
// allocating.
type BatchIter struct {
	rest  []byte
	corr  uint32
	flags uint8
}

// Next returns the next section as a Publish aliasing the frame, and false
// at the end.
func (it *BatchIter) Next() (Publish, bool) {
	if len(it.rest) < sectionHeader {
		return Publish{}, false
	}
	p := Publish{
		Handle: binary.BigEndian.Uint32(it.rest),
		Corr:   it.corr,
		Flags:  it.flags,
		Count:  binary.BigEndian.Uint32(it.rest[4:]),
	}
	n, ok := recordsLen(it.rest[sectionHeader:], p.Count, PublishRecordHeaderSize, 0)
	if !ok {
		return Publish{}, false
	}
	p.Data = it.rest[sectionHeader : sectionHeader+n : sectionHeader+n]
	it.rest = it.rest[sectionHeader+n:]
	return p, true
}

// DecodePublish decodes a PUBLISH body and checks that its Count records
// fill it exactly, so that Messages never fails afterwards.
func DecodePublish(b []byte) (Publish, error) {
	if len(b) < 13 {
		return Publish{}, ErrMalformed
	}
	p := Publish{
		Handle: binary.BigEndian.Uint32(b),
		Corr:   binary.BigEndian.Uint32(b[4:]),
		Flags:  b[8],
	}
	b = b[9:]
	if p.Flags&FlagProducer != 0 {
		if len(b) < 16+4 {
			return Publish{}, ErrMalformed
		}
		p.Producer = binary.BigEndian.Uint64(b)
		p.PSeq = binary.BigEndian.Uint64(b[8:])
		if p.Producer == 0 || p.PSeq == 0 {
			return Publish{}, ErrMalformed
		}
		b = b[16:]
	}
	p.Count = binary.BigEndian.Uint32(b)
	p.Data = b[4:]
	if p.Count == 0 || !checkRecords(p.Data, p.Count, PublishRecordHeaderSize, 0) {
		return Publish{}, ErrMalformed
	}
	return p, nil
}

// DecodePubAck decodes a PUBACK body.
func DecodePubAck(b []byte) (PubAck, error) {
	if len(b) != 20 {
		return PubAck{}, ErrMalformed
	}
	return PubAck{
		Handle:   binary.BigEndian.Uint32(b),
		Corr:     binary.BigEndian.Uint32(b[4:]),
		FirstSeq: binary.BigEndian.Uint64(b[8:]),
		Count:    binary.BigEndian.Uint32(b[16:]),
	}, nil
}

// DecodeSubscribe decodes a SUBSCRIBE body.
func DecodeSubscribe(b []byte) (Subscribe, error) {
	if len(b) != 21 || b[8] > StartEarliest {
		return Subscribe{}, ErrMalformed
	}
	return Subscribe{
		SubID:    binary.BigEndian.Uint32(b),
		Handle:   binary.BigEndian.Uint32(b[4:]),
		Start:    b[8],
		StartSeq: binary.BigEndian.Uint64(b[9:]),
		Credits:  binary.BigEndian.Uint32(b[17:]),
	}, nil
}

// DecodeSubscribed decodes a SUBSCRIBED body.
func DecodeSubscribed(b []byte) (Subscribed, error) {
	if len(b) != 12 {
		return Subscribed{}, ErrMalformed
	}
	return Subscribed{SubID: binary.BigEndian.Uint32(b), NextSeq: binary.BigEndian.Uint64(b[4:])}, nil
}

// DecodeDeliver decodes a DELIVER body and checks that its Count records
// fill it exactly, so that Records never fails afterwards.
func DecodeDeliver(b []byte) (Deliver, error) {
	if len(b) < 12 {
		return Deliver{}, ErrMalformed
	}
	d := Deliver{
		SubID:  binary.BigEndian.Uint32(b),
		Handle: binary.BigEndian.Uint32(b[4:]),
		Count:  binary.BigEndian.Uint32(b[8:]),
		Data:   b[12:],
	}
	if d.Count == 0 || !checkRecords(d.Data, d.Count, RecordHeaderSize, 16) {
		return Deliver{}, ErrMalformed
	}
	return d, nil
}

// DecodeCredit decodes a CREDIT body.
func DecodeCredit(b []byte) (Credit, error) {
	if len(b) != 8 {
		return Credit{}, ErrMalformed
	}
	return Credit{SubID: binary.BigEndian.Uint32(b), Credits: binary.BigEndian.Uint32(b[4:])}, nil
}

// DecodeSubID decodes the body of UNSUBSCRIBE and UNSUBSCRIBED, which is a
// subscription id alone.
func DecodeSubID(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, ErrMalformed
	}
	return binary.BigEndian.Uint32(b), nil
}

// DecodeNonce decodes the body of PING and PONG.
func DecodeNonce(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, ErrMalformed
	}
	return binary.BigEndian.Uint64(b), nil
}

// DecodeError decodes an ERROR body.
func DecodeError(b []byte) (ErrorFrame, error) {
	if len(b) < 8 {
		return ErrorFrame{}, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b[6:]))
	if n > MaxErrorTextLen || len(b) != 8+n {
		return ErrorFrame{}, ErrMalformed
	}
	return ErrorFrame{Code: Code(binary.BigEndian.Uint16(b)), Corr: binary.BigEndian.Uint32(b[2:]), Text: b[8:]}, nil
}

// recordsLen returns the length of the count records at the start of b,
// each a header of hdr bytes whose u32 payload length sits at lenOff,
// followed by the payload, and false when b is too short for them.
func recordsLen(b []byte, count uint32, hdr, lenOff int) (int, bool) {
	if uint64(count)*uint64(hdr) > uint64(len(b)) {
		return 0, false
	}
	n := 0
	for range count {
		if len(b)-n < hdr {
			return 0, false
		}
		l := uint64(binary.BigEndian.Uint32(b[n+lenOff:]))
		if l > uint64(len(b)-n-hdr) {
			return 0, false
		}
		n += hdr + int(l)
	}
	return n, true
}

// checkRecords reports whether b holds exactly count records, each a header
// of hdr bytes whose u32 payload length sits at lenOff, followed by the
// payload.
func checkRecords(b []byte, count uint32, hdr, lenOff int) bool {
	// Every record takes at least hdr bytes: reject absurd counts before
	// looping over them.
	if uint64(count)*uint64(hdr) > uint64(len(b)) {
		return false
	}
	for range count {
		if len(b) < hdr {
			return false
		}
		n := uint64(binary.BigEndian.Uint32(b[lenOff:]))
		if n > uint64(len(b)-hdr) {
			return false
		}
		b = b[hdr+int(n):]
	}
	return len(b) == 0
}

// Messages returns an iterator over the payloads of a decoded PUBLISH.
func (p Publish) Messages() MessageIter { return MessageIter{rest: p.Data} }

// MessageIter iterates over the payloads of a PUBLISH without allocating.
type MessageIter struct{ rest []byte }

// Next returns the next payload, aliasing the frame, and false at the end.
func (it *MessageIter) Next() ([]byte, bool) {
	if len(it.rest) < PublishRecordHeaderSize {
		return nil, false
	}
	// Compare as uint64: int(n) can be negative where int has 32 bits.
	n := binary.BigEndian.Uint32(it.rest)
	if uint64(n) > uint64(len(it.rest)-PublishRecordHeaderSize) {
		return nil, false
	}
	end := PublishRecordHeaderSize + int(n)
	p := it.rest[PublishRecordHeaderSize:end:end]
	it.rest = it.rest[end:]
	return p, true
}

// Record is one delivered message.
type Record struct {
	Seq     uint64
	Time    int64 // ns since the Unix epoch, node clock at publish
	Payload []byte
}

// Records returns an iterator over the records of a decoded DELIVER.
func (d Deliver) Records() RecordIter { return RecordIter{rest: d.Data} }

// RecordIter iterates over the records of a DELIVER without allocating.
type RecordIter struct{ rest []byte }

// NewRecordIter returns an iterator over records laid out as in a DELIVER
// (AppendRecord), wherever they come from: a stream's memory, a log file.
func NewRecordIter(b []byte) RecordIter { return RecordIter{rest: b} }

// Rest returns how many bytes Next has not consumed: after Next returned
// false, 0 means the records ended cleanly, more that a record is cut off.
func (it *RecordIter) Rest() int { return len(it.rest) }

// Next returns the next record, its payload aliasing the frame, and false
// at the end.
func (it *RecordIter) Next() (Record, bool) {
	if len(it.rest) < RecordHeaderSize {
		return Record{}, false
	}
	n := binary.BigEndian.Uint32(it.rest[16:])
	if uint64(n) > uint64(len(it.rest)-RecordHeaderSize) {
		return Record{}, false
	}
	end := RecordHeaderSize + int(n)
	r := Record{
		Seq:     binary.BigEndian.Uint64(it.rest),
		Time:    int64(binary.BigEndian.Uint64(it.rest[8:])),
		Payload: it.rest[RecordHeaderSize:end:end],
	}
	it.rest = it.rest[end:]
	return r, true
}
