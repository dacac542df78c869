package kafkaio

import (
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/segmentio/kafka-go"
)

// CopartitionBalancer is a consumer group assignment strategy that assigns
// partition numbers rather than topic-partitions: partition n of every
// subscribed topic goes to the same member, so one member sees all of a
// customer's records from all co-partitioned input topics and owns that
// customer's state (changelog partition n).
//
// It is also sticky: each member reports, in its join metadata, the
// partition numbers it owned in its last generation, and keeps them as far
// as an even spread allows. After a rebalance most partitions stay where
// their state already is.
//
// The leader computes the assignment, so every member must offer this
// strategy; a Source offers it first, with the range strategy as fallback.
// A CopartitionBalancer records what its Source owns: use one per Source.
type CopartitionBalancer struct {
	mu         sync.Mutex
	generation int32
	owned      []int
}

// CopartitionProtocol is the strategy's protocol name in JoinGroup.
const CopartitionProtocol = "ecap-copartition-sticky"

var _ kafka.GroupBalancer = (*CopartitionBalancer)(nil)

// ProtocolName implements kafka.GroupBalancer.
func (b *CopartitionBalancer) ProtocolName() string { return CopartitionProtocol }

// setOwned records the partition numbers this member owns in generation gen.
func (b *CopartitionBalancer) setOwned(gen int32, partitions []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.generation = gen
	b.owned = slices.Clone(partitions)
}

// UserData implements kafka.GroupBalancer: version byte, generation, then
// the owned partition numbers as uvarints.
func (b *CopartitionBalancer) UserData() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := []byte{0}
	buf = binary.BigEndian.AppendUint32(buf, uint32(b.generation))
	buf = binary.AppendUvarint(buf, uint64(len(b.owned)))
	for _, p := range b.owned {
		buf = binary.AppendUvarint(buf, uint64(p))
	}
	return buf, nil
}

type claim struct {
	generation int32
	partitions []int
}

func decodeClaim(data []byte) (claim, error) {
	bad := errors.New("malformed copartition user data")
	if len(data) < 5 || data[0] != 0 {
		return claim{}, bad
	}
	c := claim{generation: int32(binary.BigEndian.Uint32(data[1:5]))}
	data = data[5:]
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)) {
		return claim{}, bad
	}
	data = data[k:]
	for range n {
		p, k := binary.Uvarint(data)
		if k <= 0 || p > 1<<31 {
			return claim{}, bad
		}
		c.partitions = append(c.partitions, int(p))
		data = data[k:]
	}
	return c, nil
}

// AssignGroups implements kafka.GroupBalancer. With N partition numbers and
// M members every member gets N/M or N/M+1 numbers. Members first keep the
// numbers they claim (a number claimed twice goes to the claim from the
// newest generation), then the rest go to the least loaded members.
func (b *CopartitionBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })

	numberSet := map[int]bool{}
	for _, p := range partitions {
		numberSet[p.ID] = true
	}
	numbers := make([]int, 0, len(numberSet))
	for n := range numberSet {
		numbers = append(numbers, n)
	}
	sort.Ints(numbers)

	// Resolve claims: the newest generation wins a number claimed twice.
	type claimant struct {
		member int
		gen    int32
	}
	claimedBy := map[int]claimant{}
	for i, m := range members {
		c, err := decodeClaim(m.UserData)
		if err != nil {
			continue
		}
		for _, n := range c.partitions {
			if !numberSet[n] {
				continue
			}
			if prev, ok := claimedBy[n]; !ok || c.generation > prev.gen {
				claimedBy[n] = claimant{member: i, gen: c.generation}
			}
		}
	}
	claims := make([][]int, len(members))
	for _, n := range numbers {
		if cl, ok := claimedBy[n]; ok {
			claims[cl.member] = append(claims[cl.member], n)
		}
	}

	base, extra := len(numbers)/len(members), len(numbers)%len(members)
	owner := map[int]int{}
	load := make([]int, len(members))
	take := func(member, n int) {
		owner[n] = member
		load[member]++
	}
	for i := range members {
		for _, n := range claims[i] {
			if load[i] < base {
				take(i, n)
			}
		}
	}
	for i := range members {
		if extra == 0 {
			break
		}
		for _, n := range claims[i] {
			if _, taken := owner[n]; !taken && load[i] == base {
				take(i, n)
				extra--
				break
			}
		}
	}
	for _, n := range numbers {
		if _, taken := owner[n]; taken {
			continue
		}
		best := -1
		for i := range members {
			if load[i] < base || (load[i] == base && extra > 0) {
				if best < 0 || load[i] < load[best] {
					best = i
				}
			}
		}
		if load[best] == base {
			extra--
		}
		take(best, n)
	}

	subscribed := func(m kafka.GroupMember, topic string) bool { return slices.Contains(m.Topics, topic) }
	for _, m := range members {
		out[m.ID] = map[string][]int{}
	}
	for _, p := range partitions {
		m := members[owner[p.ID]]
		if !subscribed(m, p.Topic) {
			// Only during a rolling change of the topic list: fall back
			// to the first member that reads the topic.
			found := false
			for _, alt := range members {
				if subscribed(alt, p.Topic) {
					m, found = alt, true
					break
				}
			}
			if !found {
				continue
			}
		}
		out[m.ID][p.Topic] = append(out[m.ID][p.Topic], p.ID)
	}
	for _, byTopic := range out {
		for _, ps := range byTopic {
			sort.Ints(ps)
		}
	}
	return out
}

// explicitPartition is a kafka.Balancer that sends each message to the
// partition in its Partition field, which kafka-go's Writer otherwise
// ignores. The changelog uses it to write state to the partition number of
// the input partition it belongs to.
type explicitPartition struct{}

func (explicitPartition) Balance(msg kafka.Message, _ ...int) int { return msg.Partition }
