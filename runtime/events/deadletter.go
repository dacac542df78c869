package events

import "strconv"

// Header names set on a record written to a dead-letter topic. The Kafka
// writer copies the Header values into its own header type.
const (
	// HeaderDLQReason holds Rejection.Reason.
	HeaderDLQReason = "ecap-dlq-reason"
	// HeaderDLQField holds Rejection.Field (empty for whole-payload problems).
	HeaderDLQField = "ecap-dlq-field"
	// HeaderDLQDetail holds Rejection.Detail.
	HeaderDLQDetail = "ecap-dlq-detail"
	// HeaderSourceTopic holds the topic the record was read from.
	HeaderSourceTopic = "ecap-source-topic"
	// HeaderSourcePartition holds the source partition, in decimal.
	HeaderSourcePartition = "ecap-source-partition"
	// HeaderSourceOffset holds the source offset, in decimal.
	HeaderSourceOffset = "ecap-source-offset"
)

// Header is one record header, shaped like the Kafka clients' own.
type Header struct {
	Key   string
	Value []byte
}

// Source locates the record an event was read from.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
}

// DeadLetterHeaders returns the headers for dead-lettering a record refused
// with r, read from src, in the order of the Header* constants. The original
// payload goes to the dead-letter topic unchanged, so it can be replayed.
func DeadLetterHeaders(r *Rejection, src Source) []Header {
	return []Header{
		{Key: HeaderDLQReason, Value: []byte(r.Reason)},
		{Key: HeaderDLQField, Value: []byte(r.Field)},
		{Key: HeaderDLQDetail, Value: []byte(r.Detail)},
		{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
	}
}
