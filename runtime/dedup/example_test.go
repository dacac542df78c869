package dedup_test

import (
	"fmt"
	"time"

	"github.com/ecap-dev/ecap/runtime/dedup"
)

func ExampleFilter() {
	f, err := dedup.New(dedup.Config{Window: 10 * time.Minute})
	if err != nil {
		panic(err)
	}
	t := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	fmt.Println(f.Admit("evt-1", t))                     // first sighting
	fmt.Println(f.Admit("evt-1", t.Add(time.Second)))    // a retry
	fmt.Println(f.Admit("evt-2", t.Add(15*time.Minute))) // moves the watermark on
	fmt.Println(f.Admit("evt-1", t.Add(15*time.Minute))) // forgotten by now

	// Checkpoint with the consumer offsets; restore after a restart.
	snap, _ := f.MarshalBinary()
	var restored dedup.Filter
	if err := restored.UnmarshalBinary(snap); err != nil {
		panic(err)
	}
	fmt.Println(restored.Admit("evt-2", t.Add(15*time.Minute)))
	// Output:
	// true
	// false
	// true
	// true
	// false
}
