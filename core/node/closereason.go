package node

import "github.com/memorystreamer/memorystreamer/core/wire"

// closeReason classifies why a connection ended, for the
// msnode_connections_closed_total metric. The set is small and fixed.
type closeReason uint8

const (
	closeOther            closeReason = iota // none of the below
	closeEOF                                 // the client closed its end
	closeProtocolError                       // the node sent a fatal ERROR
	closeSlowConsumer                        // fell behind retention, or its socket blocked
	closeShutdown                            // the node shut down or closed
	closeWriteError                          // writing to the client failed
	closeHandshakeTimeout                    // no HELLO in time
	closeRefused                             // a plugin refused the connection
	numCloseReasons
)

var closeReasonNames = [numCloseReasons]string{
	closeOther:            "other",
	closeEOF:              "eof",
	closeProtocolError:    "protocol_error",
	closeSlowConsumer:     "slow_consumer",
	closeShutdown:         "shutdown",
	closeWriteError:       "write_error",
	closeHandshakeTimeout: "handshake_timeout",
	closeRefused:          "refused",
}

// String returns the reason's label value.
func (r closeReason) String() string { return closeReasonNames[r] }

// cause is why a connection ended: its class and, for the log, the detail.
type cause struct {
	reason closeReason
	text   string
}

// numCodes bounds the error codes counted one by one; a code past it is
// counted only in the total.
const numCodes = int(wire.CodeNotLeader) + 1

// codeLabel returns the label value of code for msnode_errors_total: its
// description in snake case ("limit_exceeded").
func codeLabel(code wire.Code) string {
	b := []byte(code.String())
	for i, c := range b {
		if c == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// countError counts one ERROR frame of code sent.
func (s *counters) countError(code wire.Code) {
	s.protocolErrors.Add(1)
	if int(code) < numCodes {
		s.errors[code].Add(1)
	}
}
