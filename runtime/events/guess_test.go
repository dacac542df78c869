package events

import (
	"fmt"
	"reflect"
	"regexp"
	"testing"
)

// memberName finds the member names of a compact record (and a few string
// values followed by a colon-free text, which the pattern does not match).
var memberName = regexp.MustCompile(`"([a-z_]+)":`)

// TestMemberGuesses decodes a transaction into a block, so that the block
// learns its member order, and then the same record with one member name
// changed at each position (another name of the same length, one letter
// less or more, an escape, white space around it), and checks every
// result against Decode, which has no order to guess from: a guess may
// only be taken when the bytes are the guessed member's exactly. After
// each variant the record itself decodes as Decode has it again.
func TestMemberGuesses(t *testing.T) {
	v := testValidator()
	base := compactExample(t, KindTransaction)
	check := func(name string, block *TransactionBlock, data []byte) {
		t.Helper()
		want, wantErr := v.Decode(KindTransaction, data)
		got, err := v.DecodeTransactionInto(block, data)
		if (got == nil) != (want == nil) || got != nil && !reflect.DeepEqual(got, want) || !reflect.DeepEqual(err, wantErr) {
			t.Fatalf("%s: DecodeTransactionInto(%s) = %+v, %v; Decode = %+v, %v", name, data, got, err, want, wantErr)
		}
	}
	var block TransactionBlock
	check("base", &block, base)
	check("base again", &block, base)
	// The block holds the record's top-level member order.
	var top, got []int
	for _, m := range topLevelNames(t, base) {
		top = append(top, transactionFields.lookup(m))
	}
	for _, e := range block.order.top[:len(top)] {
		got = append(got, int(e.id))
	}
	if !reflect.DeepEqual(got, top) {
		t.Fatalf("learned order %v, want %v", got, top)
	}
	variants := 0
	for _, loc := range memberName.FindAllSubmatchIndex(base, -1) {
		start, end := loc[2], loc[3] // the name, without quotes
		name := string(base[start:end])
		edits := map[string]string{
			"other name":     "x" + name[1:],
			"shorter":        name[:len(name)-1],
			"longer":         name + "s",
			"escaped":        fmt.Sprintf(`\u%04x`, name[0]) + name[1:],
			"space in front": "",
			"space after":    "",
			"duplicate":      "",
		}
		for kind, repl := range edits {
			var data []byte
			switch kind {
			case "space in front":
				data = splice(base, start-1, start-1, " ")
			case "space after":
				data = splice(base, end+1, end+1, " ")
			case "duplicate":
				// The member once more right after itself, with its value
				// as the first: only works for members whose value has no
				// comma; others give an error both ways.
				data = splice(base, start-1, start-1, `"`+name+`":null,`)
			default:
				data = splice(base, start, end, repl)
			}
			var b TransactionBlock
			check("learn", &b, base)
			check(name+" "+kind, &b, data)
			check(name+" "+kind+", then the record", &b, base)
			// And the other way round: learning the variant's order.
			var c TransactionBlock
			check(name+" "+kind+" first", &c, data)
			check(name+" "+kind+" first, then the record", &c, base)
			variants++
		}
	}
	if variants < 7*20 {
		t.Fatalf("only %d variants: the example has fewer members than expected", variants)
	}
}

// splice returns data with data[i:j] replaced by s.
func splice(data []byte, i, j int, s string) []byte {
	out := append([]byte{}, data[:i]...)
	out = append(out, s...)
	return append(out, data[j:]...)
}

// topLevelNames returns the top-level member names of a compact record, in
// order.
func topLevelNames(t *testing.T, data []byte) []string {
	t.Helper()
	s := newScanner(data)
	if err := s.root(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for first := true; ; first = false {
		key, ok, err := s.nextKey(first)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return names
		}
		names = append(names, key)
		if err := s.skip(); err != nil {
			t.Fatal(err)
		}
	}
}
