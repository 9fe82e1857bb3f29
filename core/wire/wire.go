package wire

import "errors"

// Version is the protocol version this package speaks. A node accepts a
// HELLO only with exactly this version.
//
// Version history:
//
//	1  2026-11  first version: handshake, open, batched publish with
//	            optional acks, subscribe with credits, deliver, unsubscribe,
//	            ping/pong, error.
const Version uint16 = 1

// Sizes and limits of the frame format.
const (
	// LenSize is the size of the length prefix that starts every frame.
	LenSize = 4
	// HeaderSize is the length prefix plus the type byte.
	HeaderSize = LenSize + 1
	// DefaultMaxFrameSize is the default limit on a whole frame, length
	// prefix included: 1 MiB. Node and client can each configure their own.
	DefaultMaxFrameSize = 1 << 20
	// MinMaxFrameSize is the smallest frame size limit a peer may configure:
	// 4 KiB, enough for every control frame at its largest.
	MinMaxFrameSize = 4 << 10
	// MaxStreamNameLen is the longest stream name, in bytes.
	MaxStreamNameLen = 255
	// MaxTokenLen is the longest auth token in a HELLO, in bytes.
	MaxTokenLen = 1024
	// MaxErrorTextLen is the longest text in an ERROR frame, in bytes.
	MaxErrorTextLen = 1024
	// PublishRecordHeaderSize is the per-message overhead inside a PUBLISH
	// frame: the payload length (u32).
	PublishRecordHeaderSize = 4
	// RecordHeaderSize is the per-message overhead inside a DELIVER frame:
	// seq (u64), timestamp (i64) and payload length (u32).
	RecordHeaderSize = 8 + 8 + 4
)

// Type identifies a frame. The byte layout of each frame's body follows its
// constant; every integer is big-endian, the frame header (u32 length, u8
// type) is not repeated here. "c→n" is client to node, "n→c" node to client.
type Type uint8

// Frame types of protocol version 1.
const (
	// TypeHello (c→n) is the first frame of every connection.
	//
	//	version  u16   protocol version, must equal Version
	//	flags    u16   reserved, 0
	//	tokenLen u16   length of token, ≤ MaxTokenLen
	//	token    [tokenLen]byte  auth token, empty when none
	TypeHello Type = 0x01

	// TypeWelcome (n→c) answers a valid HELLO.
	//
	//	version      u16  protocol version the node speaks
	//	maxFrameSize u32  largest frame the node accepts or sends
	TypeWelcome Type = 0x02

	// TypeOpen (c→n) opens a stream by name, creating it if needed.
	//
	//	corr    u32  request id, echoed in OPENED or ERROR
	//	nameLen u8   1..MaxStreamNameLen
	//	name    [nameLen]byte  see ValidStreamName
	TypeOpen Type = 0x03

	// TypeOpened (n→c) answers OPEN with the connection-local handle.
	//
	//	corr     u32  request id from OPEN
	//	handle   u32  small number naming the stream on this connection
	//	firstSeq u64  oldest retained sequence, 0 when nothing is retained
	//	lastSeq  u64  last assigned sequence, 0 when the stream is empty
	TypeOpened Type = 0x04

	// TypePublish (c→n) publishes a batch of messages to one stream.
	//
	//	handle u32  from OPENED
	//	corr   u32  request id, echoed in PUBACK or ERROR
	//	flags  u8   bit 0 (FlagAck): answer with PUBACK
	//	            bit 1 (FlagProducer): the producer fields follow
	//	producer u64  with FlagProducer: the idempotent producer's id, ≠ 0
	//	pseq     u64  with FlagProducer: its batch number, ≥ 1
	//	count  u32  number of messages, ≥ 1
	//	count × { len u32; payload [len]byte }
	TypePublish Type = 0x05

	// TypePubAck (n→c) acknowledges a PUBLISH that set FlagAck. The batch
	// got the contiguous sequences firstSeq .. firstSeq+count-1.
	//
	//	handle   u32
	//	corr     u32  request id from PUBLISH
	//	firstSeq u64
	//	count    u32
	TypePubAck Type = 0x06

	// TypeSubscribe (c→n) subscribes to an open stream.
	//
	//	subID    u32  chosen by the client, unique on the connection
	//	handle   u32  from OPENED
	//	start    u8   StartNext, StartSeq or StartEarliest
	//	startSeq u64  first sequence wanted, used with StartSeq
	//	credits  u32  messages the node may deliver before more credit
	TypeSubscribe Type = 0x07

	// TypeSubscribed (n→c) confirms SUBSCRIBE.
	//
	//	subID   u32
	//	nextSeq u64  sequence of the first message that will be delivered
	TypeSubscribed Type = 0x08

	// TypeDeliver (n→c) delivers a batch of messages of one subscription.
	// The records of one DELIVER have consecutive sequence numbers; across
	// DELIVERs sequences increase, and a gap means messages were dropped
	// (slow-consumer policy or retention), never reordered.
	//
	//	subID  u32
	//	handle u32
	//	count  u32  ≥ 1
	//	count × { seq u64; timestamp i64 (ns since Unix epoch, node clock);
	//	          len u32; payload [len]byte }
	TypeDeliver Type = 0x09

	// TypeCredit (c→n) lets the node deliver more messages to a subscription.
	//
	//	subID   u32
	//	credits u32  added to the subscription's credit
	TypeCredit Type = 0x0A

	// TypeUnsubscribe (c→n) ends a subscription.
	//
	//	subID u32
	TypeUnsubscribe Type = 0x0B

	// TypeUnsubscribed (n→c) confirms UNSUBSCRIBE; no DELIVER for the
	// subscription follows it.
	//
	//	subID u32
	TypeUnsubscribed Type = 0x0C

	// TypePing (either way) asks the peer for a PONG with the same nonce.
	// A peer processes frames in order, so a PONG also tells that every
	// frame sent before the PING was processed.
	//
	//	nonce u64
	TypePing Type = 0x0D

	// TypePong (either way) answers PING.
	//
	//	nonce u64
	TypePong Type = 0x0E

	// TypeError (n→c) reports a failure. corr is the request id of the
	// failed request, or 0 for the connection. Fatal codes (see Code.Fatal)
	// are followed by the node closing the connection.
	//
	//	code    u16  see Code
	//	corr    u32
	//	textLen u16  ≤ MaxErrorTextLen
	//	text    [textLen]byte  UTF-8, for humans
	TypeError Type = 0x0F

	// TypePublishMulti (c→n) publishes batches to several streams in one
	// frame: each section is one stream's batch, appended as one unit as
	// if it came in its own PUBLISH (with corr and flags of this frame),
	// sections in order. It keeps batching when traffic is spread over
	// many streams. With FlagAck each section gets its own PUBACK.
	//
	//	corr     u32  request id, echoed in PUBACKs or ERRORs
	//	flags    u8   bit 0 (FlagAck): answer each section with PUBACK
	//	sections u32  number of sections, ≥ 1
	//	sections × { handle u32; count u32 ≥ 1;
	//	             count × { len u32; payload [len]byte } }
	TypePublishMulti Type = 0x10

	typeMax = TypePublishMulti
)

// Flags of a PUBLISH.
const (
	// FlagAck asks the node for a PUBACK.
	FlagAck uint8 = 1
	// FlagProducer marks a batch of an idempotent producer: the frame
	// carries the producer's id and the batch's number, and a stream
	// appends a producer's batch at most once however often it is sent
	// (docs/PROTOCOL.md, "Idempotent producers"). PUBLISH only; in a
	// PUBLISH_MULTI it is malformed.
	FlagProducer uint8 = 2
)

// Start positions of a SUBSCRIBE.
const (
	// StartNext delivers messages published after the subscription.
	StartNext uint8 = 0
	// StartSeq delivers from StartSeq, or from the oldest retained message
	// when StartSeq is no longer retained.
	StartSeq uint8 = 1
	// StartEarliest delivers from the oldest retained message.
	StartEarliest uint8 = 2
)

var typeNames = [...]string{
	TypeHello:        "HELLO",
	TypeWelcome:      "WELCOME",
	TypeOpen:         "OPEN",
	TypeOpened:       "OPENED",
	TypePublish:      "PUBLISH",
	TypePubAck:       "PUBACK",
	TypeSubscribe:    "SUBSCRIBE",
	TypeSubscribed:   "SUBSCRIBED",
	TypeDeliver:      "DELIVER",
	TypeCredit:       "CREDIT",
	TypeUnsubscribe:  "UNSUBSCRIBE",
	TypeUnsubscribed: "UNSUBSCRIBED",
	TypePing:         "PING",
	TypePong:         "PONG",
	TypeError:        "ERROR",
	TypePublishMulti: "PUBLISH_MULTI",
}

// Valid reports whether t is a frame type of this protocol version.
func (t Type) Valid() bool { return t >= TypeHello && t <= typeMax }

// String returns the frame type's name, as used in docs/PROTOCOL.md.
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "UNKNOWN(" + itoa(uint64(t)) + ")"
}

// Errors returned by the decoder.
var (
	// ErrIncomplete means the buffer does not yet hold a whole frame.
	ErrIncomplete = errors.New("wire: incomplete frame")
	// ErrFrameTooLarge means a length prefix exceeds the frame size limit.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrEmptyFrame means a length prefix of 0 (no type byte).
	ErrEmptyFrame = errors.New("wire: empty frame")
	// ErrUnknownType means a frame type this version does not define.
	ErrUnknownType = errors.New("wire: unknown frame type")
	// ErrMalformed means a frame body does not match its type's layout.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrInvalidStreamName means a stream name outside the allowed charset
	// or length.
	ErrInvalidStreamName = errors.New("wire: invalid stream name")
)

// ValidStreamName reports whether name is a valid stream name: 1 to
// MaxStreamNameLen bytes of ASCII letters, digits, '.', '_', '-', '/' and ':'.
func ValidStreamName(name []byte) bool {
	if len(name) == 0 || len(name) > MaxStreamNameLen {
		return false
	}
	for _, c := range name {
		if !nameChar[c] {
			return false
		}
	}
	return true
}

var nameChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "._-/:" {
		t[c] = true
	}
	return t
}()

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
