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
// devices and countries seen; the months with a purchase (128 bits from
// the first purchase month), for cohort retention. A Customer is 192 bytes
// (the 192-byte heap size class); with its map entry and key a typical
// customer costs about 250 bytes of heap, as BenchmarkStateBytesPerCustomer
// measures.
//
// # Summaries frozen at calibration ends
//
// A Store may track up to MaxCalibrationDays calibration end days
// (SetCalibrationDays). For a tracked day E, a customer whose purchases
// lie on both sides of E keeps the summary of those on or before E (day
// summary and activity months, about 72 bytes of heap): it is frozen from
// the customer's own summary when the first purchase after E arrives (or
// made from the purchase when the first one on or before E arrives after
// later ones), and later purchases on or before E update it. Customer.AsOf
// returns the summary at any day: the customer's own when every purchase
// is on or before it, an empty one when all are after, the frozen one
// otherwise, and "unknown" for a customer that crossed an untracked day.
// Frozen summaries are encoded with the customer, so checkpoints, restores
// and replays carry them like the rest; a replay is exact when it runs with
// the tracked days of the original run.
//
// Amounts are kept as integer ten-thousandths of the currency unit (every
// ISO 4217 currency has at most 4 decimals), so sums are exact and do not
// depend on the order purchases arrive in.
//
// # Encoding
//
// A customer record's value is a versioned binary encoding (see
// Customer.AppendBinary), about 63 bytes for a typical customer with five
// devices and two countries. Version 2 adds the activity months and the
// frozen summaries; version 1 is still written when it says everything
// (no frozen summary, activity in the first and last month only) and is
// still read. The key is the customer ID; customer IDs
// therefore may not start with a NUL byte, which marks the keys of offset
// markers ("\x00offsets/<topic>/<partition>").
//
// A Store belongs to one partition's goroutine and is not safe for
// concurrent use.
package state
