package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The peer protocol is what cluster hosts speak to one another on the
// cluster listener; it is its own frame set, versioned apart from the
// client protocol (docs/PROTOCOL.md, "Peer frames"). A frame is laid out
// like a client frame: u32 length (of the type byte and body), u8 type,
// body; integers are big-endian.
const (
	// PeerVersion is the peer protocol version. A host accepts a
	// PEER_HELLO only with exactly this version.
	//
	//	1  2026-12  hello, raft messages
	PeerVersion uint16 = 1
	// PeerMagic opens every PEER_HELLO, so that a client that dials the
	// cluster port (or a host that dials a client port) is refused at once.
	PeerMagic = "MSPR"
	// PeerMaxFrameSize limits a peer frame, length prefix included.
	PeerMaxFrameSize = 16 << 20
)

// PeerType identifies a peer frame.
type PeerType uint8

// Peer frame types of peer protocol version 1.
const (
	// PeerTypeHello is the first frame each side of a link sends.
	//
	//	magic    [4]byte  PeerMagic
	//	version  u16      PeerVersion
	//	cluster  u64      cluster id: hosts of different clusters refuse each other
	//	from     u64      the sender's host id, non-zero
	PeerTypeHello PeerType = 0x01
	// PeerTypeRaft carries raft messages of any shards, coalesced.
	//
	//	count    u32      number of messages, ≥ 1
	//	count × { shard u32, len u32, message [len]byte (raftpb.Message, protobuf) }
	PeerTypeRaft PeerType = 0x02
)

// ErrPeerFrame means a peer frame is malformed or of an unknown type.
var ErrPeerFrame = errors.New("wire: malformed peer frame")

const peerHelloSize = 4 + 2 + 8 + 8

// AppendPeerHello appends a PEER_HELLO frame.
func AppendPeerHello(dst []byte, cluster, from uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 1+peerHelloSize)
	dst = append(dst, byte(PeerTypeHello))
	dst = append(dst, PeerMagic...)
	dst = binary.BigEndian.AppendUint16(dst, PeerVersion)
	dst = binary.BigEndian.AppendUint64(dst, cluster)
	return binary.BigEndian.AppendUint64(dst, from)
}

// DecodePeerHello decodes a PEER_HELLO body.
func DecodePeerHello(b []byte) (cluster, from uint64, err error) {
	if len(b) != peerHelloSize || string(b[:4]) != PeerMagic {
		return 0, 0, fmt.Errorf("%w: not a peer hello", ErrPeerFrame)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != PeerVersion {
		return 0, 0, fmt.Errorf("%w: peer protocol version %d, this host speaks %d", ErrPeerFrame, v, PeerVersion)
	}
	cluster, from = binary.BigEndian.Uint64(b[6:]), binary.BigEndian.Uint64(b[14:])
	if from == 0 {
		return 0, 0, fmt.Errorf("%w: host id 0", ErrPeerFrame)
	}
	return cluster, from, nil
}

// BeginPeerRaft starts a PEER_RAFT frame at the end of dst; append its
// messages with AppendPeerMessage and close it with FinishPeerRaft.
func BeginPeerRaft(dst []byte) (out []byte, start int) {
	start = len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = append(dst, byte(PeerTypeRaft))
	return binary.BigEndian.AppendUint32(dst, 0), start
}

// AppendPeerMessage appends one marshalled raft message of shard.
func AppendPeerMessage(dst []byte, shard uint32, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, shard)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// FinishPeerRaft sets the length and message count of the frame begun at
// start.
func FinishPeerRaft(dst []byte, start int, count uint32) []byte {
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-LenSize))
	binary.BigEndian.PutUint32(dst[start+HeaderSize:], count)
	return dst
}

// PeerRaftIter iterates over the messages of a PEER_RAFT body that
// DecodePeerRaft checked, without allocating.
type PeerRaftIter struct{ rest []byte }

// DecodePeerRaft checks a PEER_RAFT body: count messages, each whole, and
// nothing after them.
func DecodePeerRaft(b []byte) (PeerRaftIter, error) {
	if len(b) < 4 {
		return PeerRaftIter{}, ErrPeerFrame
	}
	count := binary.BigEndian.Uint32(b)
	rest := b[4:]
	if count == 0 || !checkRecords(rest, count, 8, 4) {
		return PeerRaftIter{}, fmt.Errorf("%w: raft messages do not parse", ErrPeerFrame)
	}
	return PeerRaftIter{rest: rest}, nil
}

// Next returns the next message and its shard, aliasing the frame.
func (it *PeerRaftIter) Next() (shard uint32, msg []byte, ok bool) {
	if len(it.rest) < 8 {
		return 0, nil, false
	}
	shard = binary.BigEndian.Uint32(it.rest)
	n := int(binary.BigEndian.Uint32(it.rest[4:]))
	msg = it.rest[8 : 8+n : 8+n]
	it.rest = it.rest[8+n:]
	return shard, msg, true
}

// PeerReader reads peer frames into one reusable buffer; a body returned
// by Next is valid until the next call.
type PeerReader struct {
	r   *bufio.Reader
	buf []byte
	hdr [HeaderSize]byte
}

// NewPeerReader returns a PeerReader reading r.
func NewPeerReader(r io.Reader) *PeerReader {
	return &PeerReader{r: bufio.NewReaderSize(r, DefaultReadBufferSize)}
}

// Next returns the next frame's type and body: io.EOF when the stream
// ends between frames, ErrPeerFrame for a frame that is too large, empty
// or of an unknown type.
func (r *PeerReader) Next() (PeerType, []byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF || (err == io.EOF && r.r.Buffered() > 0) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	t := PeerType(r.hdr[LenSize])
	switch {
	case n == 0 || uint64(n) > PeerMaxFrameSize-LenSize:
		return 0, nil, fmt.Errorf("%w: length %d", ErrPeerFrame, n)
	case t != PeerTypeHello && t != PeerTypeRaft:
		return 0, nil, fmt.Errorf("%w: type %#x", ErrPeerFrame, byte(t))
	}
	body := int(n) - 1
	if cap(r.buf) < body {
		r.buf = make([]byte, body)
	}
	r.buf = r.buf[:body]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return t, r.buf, nil
}
