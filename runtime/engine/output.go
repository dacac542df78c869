package engine

import "github.com/segmentio/kafka-go"

// outputChunk is the size of the blocks output keys and values are carved
// from: a few dozen records each, so that a batch of a thousand
// transactions costs a few dozen allocations instead of a few thousand. A
// partition's consecutive batches share a block until it is full.
const outputChunk = 64 << 10

// maxSpareChunks bounds the full blocks an output keeps for reuse (see
// written): 1 MiB per partition, about the records of a batch of a
// thousand transactions.
const maxSpareChunks = 16

// output is what processing a batch produced.
type output struct {
	msgs []kafka.Message
	// buf is the free end of the block record keys and values are written
	// into (space, keep). Bytes before len(buf) belong to records already
	// added and are never written again while a record may reference them:
	// a record's bytes stay valid until written says nothing holds it any
	// more.
	buf []byte
	// filled holds the blocks that filled up since the last written or
	// abandon: records not known to be written may still be in them.
	filled [][]byte
	// spare holds full blocks whose records were all written and dropped,
	// for space to write into again instead of allocating (and the runtime
	// zeroing) a new one.
	spare [][]byte
}

func (o *output) add(topic string, key, value []byte, headers []kafka.Header) {
	o.msgs = append(o.msgs, kafka.Message{Topic: topic, Key: key, Value: value, Headers: headers})
}

// space returns an empty slice with room for at least n bytes, to append a
// record key or value to and then hand to keep.
func (o *output) space(n int) []byte {
	if cap(o.buf)-len(o.buf) < n {
		o.next(n)
	}
	return o.buf[len(o.buf):len(o.buf)]
}

// drop forgets the records added, once written or given up: the message
// slice is kept for the next batch, the records are not.
func (o *output) drop() {
	clear(o.msgs)
	o.msgs = o.msgs[:0]
}

// next replaces the current block, which has less than n bytes free, by a
// spare block or a new one. The block left goes to filled: its records
// are not known to be written yet.
func (o *output) next(n int) {
	if cap(o.buf) == outputChunk {
		o.filled = append(o.filled, o.buf[:0])
	}
	if k := len(o.spare) - 1; k >= 0 && n <= outputChunk {
		o.buf = o.spare[k]
		o.spare[k] = nil
		o.spare = o.spare[:k]
		return
	}
	o.buf = make([]byte, 0, max(outputChunk, n))
}

// written tells o that every record it produced so far has been written
// (the sink returned without error) and dropped, so that nothing refers to
// the bytes of the blocks that filled up any more: they become spare. The
// current block is not: its free end is still being written into, and the
// records before it are only recycled with it once it is full and a later
// batch's records were written too.
func (o *output) written() {
	for i, b := range o.filled {
		if len(o.spare) < maxSpareChunks {
			o.spare = append(o.spare, b)
		}
		o.filled[i] = nil
	}
	o.filled = o.filled[:0]
}

// abandon tells o that the records it produced may still be referenced
// after being dropped (a failed write can leave kafka-go's writer holding
// them): their blocks, the current one included, are never written into
// again.
func (o *output) abandon() {
	clear(o.filled)
	o.filled = o.filled[:0]
	o.buf = nil
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
