// Package state keeps the per-customer state of one input partition in
// memory and checkpoints it to a compacted changelog topic (the Kafka
// Streams pattern): a checkpoint is the records of the customers changed
// since the previous one, plus a marker record holding the next input
// offset the state includes. Restoring reads the changelog partition from
// the beginning; the last record of a key wins and a tombstone (nil value)
// deletes.
//
// # Effectively-once updates
//
// kafka-go has no transactions, so a crash can leave the changelog with a
// checkpoint's customer records but without its marker. Two offsets make
// replays exact anyway. The marker's NextOffset says every input offset
// below it is in the state: the consumer resumes there, and Store.Apply
// skips anything earlier. Each customer also keeps the offset of the last
// purchase applied to it, so after a partial checkpoint the customers whose
// records did get written skip the replayed purchases they already hold,
// while the others apply them.
//
// # Customer state
//
// A Customer summarizes purchases (see Customer.Apply): first and last
// purchase time, transactions, distinct UTC purchase days, the value of the
// first purchase day and of the later ("repeat") days, the inputs of BG/NBD
// and Gamma-Gamma (frequency = purchase days - 1, recency, T, mean repeat
// day value); velocity counters for the last hour and day; and the last few
// devices and countries seen. A Customer is 168 bytes (a 176-byte heap
// size class); with its map entry and key a typical customer costs about
// 230 bytes of heap, as BenchmarkStateBytesPerCustomer measures.
//
// Amounts are kept as integer ten-thousandths of the currency unit (every
// ISO 4217 currency has at most 4 decimals), so sums are exact and do not
// depend on the order purchases arrive in.
//
// # Encoding
//
// A customer record's value is a versioned binary encoding (see
// Customer.AppendBinary), about 63 bytes for a typical customer with five
// devices and two countries. The key is the customer ID; customer IDs
// therefore may not start with a NUL byte, which marks the keys of offset
// markers ("\x00offsets/<topic>/<partition>").
//
// A Store belongs to one partition's goroutine and is not safe for
// concurrent use.
package state
