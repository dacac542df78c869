package engine

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Erasure fences close the one gap the offset marker leaves for erasure.
// A crash between a checkpoint's body and its marker restores the older
// marker together with the newer customer records, among them the erased
// customer's tombstone. Replaying the transactions from the older marker
// would then re-create the customer from purchases made before the
// erasure (with the tombstone the Store has lost the customer's own last
// offset, which otherwise skips such replays), and the replayed erasure
// request removes them again only if it happens to be consumed after
// those transactions.
//
// So each applied erasure also writes, in the same checkpoint body as the
// tombstone, a fence record
//
//	"\x00fence/<transactions topic>/<partition>/<fnv-64a of the customer ID>" = uvarint E
//
// where E is the transactions offset the erasure was applied at. A restore
// keeps the fences whose E is above the restored marker, and while
// replaying, purchases of a fenced customer below E change neither the
// Store nor the fraud states. Once a marker at or beyond E is durable, no
// replay can start below E: the fence is dropped and tombstoned in the next
// checkpoint. Fences hold a hash, not the customer ID.
const fencePrefix = "\x00fence/"

func fenceKey(topic string, part int32, customerID string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(customerID))
	return fencePrefix + topic + "/" + strconv.Itoa(int(part)) + "/" + strconv.FormatUint(h.Sum64(), 16)
}

// addFence fences the customer's purchases below the current offset.
func (p *partition) addFence(topic, customerID string) {
	key := fenceKey(topic, p.id, customerID)
	at := p.store.Meta().NextOffset
	if old, ok := p.fences[key]; ok && old >= at {
		return
	}
	if p.fences == nil {
		p.fences = map[string]int64{}
	}
	p.fences[key] = at
	p.fencePending = append(p.fencePending, kafka.Message{Key: []byte(key), Value: binary.AppendUvarint(nil, uint64(at))})
}

// fenced reports whether a purchase of the customer at offset is below an
// erasure of it (a replay after a crash mid-checkpoint).
func (p *partition) fenced(topic, customerID string, offset int64) bool {
	if len(p.fences) == 0 {
		return false
	}
	at, ok := p.fences[fenceKey(topic, p.id, customerID)]
	return ok && offset < at
}

// dropFences tombstones the fences a durable marker at next covers.
func (p *partition) dropFences(next int64) {
	for key, at := range p.fences {
		if at <= next {
			delete(p.fences, key)
			p.fencePending = append(p.fencePending, kafka.Message{Key: []byte(key)})
		}
	}
}

// parseFence recognizes a fence record of topic/part; ok is false for
// other keys.
func parseFence(key, value []byte, topic string, part int32) (at int64, isFence, ok bool) {
	if !bytes.HasPrefix(key, []byte(fencePrefix)) {
		return 0, false, false
	}
	if !bytes.HasPrefix(key, []byte(fencePrefix+topic+"/"+strconv.Itoa(int(part))+"/")) {
		return 0, true, false // another partition's
	}
	if value == nil {
		return -1, true, true
	}
	v, n := binary.Uvarint(value)
	if n <= 0 || n != len(value) || v > 1<<62 {
		return 0, true, false
	}
	return int64(v), true, true
}
