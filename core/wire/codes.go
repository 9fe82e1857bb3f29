package wire

// Code is the numeric error code carried by an ERROR frame. The table is
// shared by node and client; docs/PROTOCOL.md lists the same codes.
type Code uint16

// Error codes of protocol version 1.
const (
	// CodeProtocol: a frame body does not match its layout, or a frame
	// only the node sends came from a client. Fatal.
	CodeProtocol Code = 1
	// CodeUnsupportedVersion: HELLO named another protocol version. Fatal.
	CodeUnsupportedVersion Code = 2
	// CodeUnauthorized: the auth token is missing or wrong. Fatal.
	CodeUnauthorized Code = 3
	// CodeFrameTooLarge: a length prefix exceeds the node's limit. Fatal.
	CodeFrameTooLarge Code = 4
	// CodeUnknownFrameType: a frame type this version does not define. Fatal.
	CodeUnknownFrameType Code = 5
	// CodeInvalidStreamName: OPEN named an invalid stream.
	CodeInvalidStreamName Code = 6
	// CodeUnknownHandle: a frame named a stream handle never opened.
	CodeUnknownHandle Code = 7
	// CodeUnknownSubscription: CREDIT or UNSUBSCRIBE named no subscription.
	CodeUnknownSubscription Code = 8
	// CodeDuplicateSubscription: SUBSCRIBE reused a live subscription id.
	CodeDuplicateSubscription Code = 9
	// CodeSlowConsumer: the subscriber fell behind retention under the
	// disconnect policy. Fatal. (A client that stops reading its socket
	// is disconnected after the node's write timeout, with no ERROR: the
	// node cannot write one to it.)
	CodeSlowConsumer Code = 10
	// CodeShuttingDown: the node is shutting down. Fatal.
	CodeShuttingDown Code = 11
	// CodeHandshake: a frame other than HELLO came first, or HELLO came
	// twice. Fatal.
	CodeHandshake Code = 12
	// CodeLimit: a per-connection limit (handles, subscriptions) or a
	// node limit (streams) was reached.
	CodeLimit Code = 13
	// CodeInternal: a node fault. Fatal.
	CodeInternal Code = 14
	// CodeForbidden: the client may not do this (a plugin's permission
	// check refused an OPEN, SUBSCRIBE or PUBLISH).
	CodeForbidden Code = 15
	// CodeRejected: a plugin refused the request, or failed handling it.
	CodeRejected Code = 16
	// CodeUnavailable: the node could not commit a PUBLISH (its storage
	// failed): the batch is not in the stream. The publisher may retry.
	CodeUnavailable Code = 17
	// CodeNotLeader: the node does not lead the stream's shard of a
	// cluster, so it cannot commit the PUBLISH: the batch is not in the
	// stream. The text is the leader's client address, empty while the
	// node knows none. The publisher retries there.
	CodeNotLeader Code = 18
)

var codeNames = [...]string{
	CodeProtocol:              "protocol error",
	CodeUnsupportedVersion:    "unsupported protocol version",
	CodeUnauthorized:          "unauthorized",
	CodeFrameTooLarge:         "frame too large",
	CodeUnknownFrameType:      "unknown frame type",
	CodeInvalidStreamName:     "invalid stream name",
	CodeUnknownHandle:         "unknown stream handle",
	CodeUnknownSubscription:   "unknown subscription",
	CodeDuplicateSubscription: "duplicate subscription",
	CodeSlowConsumer:          "slow consumer",
	CodeShuttingDown:          "shutting down",
	CodeHandshake:             "handshake required",
	CodeLimit:                 "limit exceeded",
	CodeInternal:              "internal error",
	CodeForbidden:             "forbidden",
	CodeRejected:              "rejected",
	CodeUnavailable:           "unavailable",
	CodeNotLeader:             "not leader",
}

// String returns the code's short description.
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return "code " + itoa(uint64(c))
}

// Fatal reports whether the node closes the connection after sending c.
func (c Code) Fatal() bool {
	switch c {
	case CodeInvalidStreamName, CodeUnknownHandle, CodeUnknownSubscription,
		CodeDuplicateSubscription, CodeLimit, CodeForbidden, CodeRejected, CodeUnavailable, CodeNotLeader:
		return false
	}
	return true
}

// Error is an ERROR frame as a Go error. Client calls return it (wrapped)
// when the node refused a request; test with errors.As.
type Error struct {
	Code Code
	Corr uint32
	Text string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Text == "" {
		return "msnode: " + e.Code.String()
	}
	return "msnode: " + e.Code.String() + ": " + e.Text
}
