package engine

import "github.com/segmentio/kafka-go"

// outputChunk is the size of the blocks output keys and values are carved
// from: a few dozen records each, so that a batch of a thousand
// transactions costs a few dozen allocations instead of a few thousand. A
// partition's consecutive batches share a block until it is full.
const outputChunk = 64 << 10

// output is what processing a batch produced.
type output struct {
	msgs []kafka.Message
	// buf is the free end of the block record keys and values are written
	// into (space, keep). Bytes before len(buf) belong to records already
	// added and are never written again: a record's bytes stay valid for as
	// long as the record is referenced, whatever the output does next.
	buf []byte
}

func (o *output) add(topic string, key, value []byte, headers []kafka.Header) {
	o.msgs = append(o.msgs, kafka.Message{Topic: topic, Key: key, Value: value, Headers: headers})
}

// space returns an empty slice with room for at least n bytes, to append a
// record key or value to and then hand to keep.
func (o *output) space(n int) []byte {
	if cap(o.buf)-len(o.buf) < n {
		o.buf = make([]byte, 0, max(outputChunk, n))
	}
	return o.buf[len(o.buf):len(o.buf)]
}

// keep marks b, appended to a slice space returned, as used and returns it
// with its capacity cut to its length, so that an append by whoever reads
// the record cannot write into the next one. If the appends outgrew the
// room space promised, b is a slice of its own and nothing is marked.
func (o *output) keep(b []byte) []byte {
	if free := o.buf[len(o.buf):cap(o.buf)]; len(b) > 0 && len(b) <= len(free) && &b[0] == &free[0] {
		o.buf = o.buf[:len(o.buf)+len(b)]
	}
	return b[:len(b):len(b)]
}

// bytes copies s into the output's block, for a record key. An empty s
// gives an empty key, not a nil one, which Kafka would store as no key.
func (o *output) bytes(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return o.keep(append(o.space(len(s)), s...))
}
