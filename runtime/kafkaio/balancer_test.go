package kafkaio

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

func topicPartitions(n int, topics ...string) []kafka.Partition {
	var out []kafka.Partition
	for _, t := range topics {
		for p := range n {
			out = append(out, kafka.Partition{Topic: t, ID: p})
		}
	}
	return out
}

func member(t *testing.T, id string, gen int32, owned ...int) kafka.GroupMember {
	t.Helper()
	var b CopartitionBalancer
	b.setOwned(gen, owned)
	data, err := b.UserData()
	if err != nil {
		t.Fatal(err)
	}
	return kafka.GroupMember{ID: id, Topics: []string{"tx", "ue"}, UserData: data}
}

// numbers returns each member's partition numbers, checking that every
// member got the same numbers for both topics.
func numbers(t *testing.T, a kafka.GroupMemberAssignments) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for m, byTopic := range a {
		if !slices.Equal(byTopic["tx"], byTopic["ue"]) {
			t.Errorf("member %s not co-partitioned: tx %v ue %v", m, byTopic["tx"], byTopic["ue"])
		}
		out[m] = byTopic["tx"]
	}
	return out
}

func TestCopartitionBalancer(t *testing.T) {
	var b CopartitionBalancer
	parts := topicPartitions(4, "tx", "ue")
	tests := []struct {
		name    string
		members []kafka.GroupMember
		parts   []kafka.Partition
		want    map[string][]int
	}{
		{
			name:    "fresh members split evenly",
			members: []kafka.GroupMember{member(t, "a", 0), member(t, "b", 0)},
			parts:   parts,
			want:    map[string][]int{"a": {0, 2}, "b": {1, 3}},
		},
		{
			name:    "owner keeps half, newcomer gets the rest",
			members: []kafka.GroupMember{member(t, "b", 5, 0, 1, 2, 3), member(t, "a", 0)},
			parts:   parts,
			want:    map[string][]int{"b": {0, 1}, "a": {2, 3}},
		},
		{
			name:    "survivor keeps its own after a member left",
			members: []kafka.GroupMember{member(t, "a", 7, 1, 3)},
			parts:   parts,
			want:    map[string][]int{"a": {0, 1, 2, 3}},
		},
		{
			name:    "three members share four numbers",
			members: []kafka.GroupMember{member(t, "a", 2, 0, 1), member(t, "b", 2, 2, 3), member(t, "c", 0)},
			parts:   parts,
			want:    map[string][]int{"a": {0, 1}, "b": {2}, "c": {3}},
		},
		{
			name:    "newest generation wins a double claim",
			members: []kafka.GroupMember{member(t, "a", 3, 0, 1), member(t, "b", 4, 1, 2)},
			parts:   parts,
			want:    map[string][]int{"a": {0, 3}, "b": {1, 2}},
		},
		{
			name:    "more members than numbers",
			members: []kafka.GroupMember{member(t, "a", 0), member(t, "b", 0), member(t, "c", 1, 1)},
			parts:   topicPartitions(2, "tx", "ue"),
			want:    map[string][]int{"a": {0}, "b": nil, "c": {1}},
		},
		{
			name:    "garbage user data counts as no claim",
			members: []kafka.GroupMember{{ID: "a", Topics: []string{"tx", "ue"}, UserData: []byte{9, 9}}, member(t, "b", 1, 3)},
			parts:   parts,
			want:    map[string][]int{"a": {0, 1}, "b": {2, 3}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := numbers(t, b.AssignGroups(tc.members, tc.parts))
			for m := range tc.want {
				if !slices.Equal(got[m], tc.want[m]) {
					t.Errorf("assignment %v, want %v", got, tc.want)
					break
				}
			}
			again := numbers(t, b.AssignGroups(tc.members, tc.parts))
			if !reflect.DeepEqual(got, again) {
				t.Errorf("not deterministic: %v then %v", got, again)
			}
		})
	}
}

func TestCopartitionBalancerCoversEverything(t *testing.T) {
	var b CopartitionBalancer
	for parts := 1; parts <= 12; parts++ {
		for members := 1; members <= 5; members++ {
			var ms []kafka.GroupMember
			for i := range members {
				ms = append(ms, member(t, fmt.Sprintf("m%d", i), int32(i), i*2, i*2+1))
			}
			got := numbers(t, b.AssignGroups(ms, topicPartitions(parts, "tx", "ue")))
			var all []int
			for _, ns := range got {
				if len(ns) < parts/members || len(ns) > parts/members+1 {
					t.Errorf("%d parts %d members: uneven %v", parts, members, got)
				}
				all = append(all, ns...)
			}
			slices.Sort(all)
			for i, n := range all {
				if n != i || len(all) != parts {
					t.Fatalf("%d parts %d members: numbers %v", parts, members, all)
				}
			}
		}
	}
}
