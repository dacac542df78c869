package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicSpec is a topic the runtime needs.
type TopicSpec struct {
	Name       string
	Partitions int
	// ReplicationFactor; 0 takes the broker default.
	ReplicationFactor int
	// Configs are topic configs, e.g. cleanup.policy, retention.ms.
	Configs map[string]string
}

// CompactedTopic is the spec of a changelog or table topic: cleanup.policy
// compact, so the latest value of every key is kept forever.
func CompactedTopic(name string, partitions, replicationFactor int) TopicSpec {
	return TopicSpec{
		Name: name, Partitions: partitions, ReplicationFactor: replicationFactor,
		Configs: map[string]string{"cleanup.policy": "compact"},
	}
}

// EnsureTopics creates the topics that do not exist and checks those that
// do. It is idempotent. An existing topic with a different partition count
// is an error, never repartitioned: that would move customers to other
// partitions, away from their state. Configs in a spec that differ on an
// existing topic are set (incremental alter); other configs are left
// alone, as is the replication factor.
func (c *Client) EnsureTopics(ctx context.Context, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Name == "" || s.Partitions < 1 {
			return fmt.Errorf("invalid topic spec %+v: needs a name and at least one partition", s)
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor}
		if tc.ReplicationFactor == 0 {
			tc.ReplicationFactor = -1
		}
		for _, k := range sortedKeys(s.Configs) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := c.admin.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("failed to create topics: %w", err)
	}
	var existing []TopicSpec
	var errs []error
	for _, s := range specs {
		switch err := resp.Errors[s.Name]; {
		case err == nil:
		case errors.Is(err, kafka.TopicAlreadyExists):
			existing = append(existing, s)
		default:
			errs = append(errs, fmt.Errorf("failed to create topic %q: %w", s.Name, err))
		}
	}
	if len(existing) > 0 {
		errs = append(errs, c.reconcileTopics(ctx, existing))
	}
	return errors.Join(errs...)
}

// reconcileTopics checks partition counts and sets differing configs of
// topics that already exist.
func (c *Client) reconcileTopics(ctx context.Context, specs []TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	counts, err := c.partitionCounts(ctx, names...)
	if err != nil {
		return err
	}
	var errs []error
	describe := &kafka.DescribeConfigsRequest{}
	for _, s := range specs {
		if n := counts[s.Name]; n != s.Partitions {
			errs = append(errs, fmt.Errorf("topic %q has %d partitions, want %d: ECAP never repartitions an existing topic (customers would move away from their state); fix the spec or recreate the topic", s.Name, n, s.Partitions))
		}
		if len(s.Configs) > 0 {
			describe.Resources = append(describe.Resources, kafka.DescribeConfigRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name, ConfigNames: sortedKeys(s.Configs),
			})
		}
	}
	if len(describe.Resources) == 0 {
		return errors.Join(errs...)
	}
	dresp, err := c.admin.DescribeConfigs(ctx, describe)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("failed to describe topic configs: %w", err))...)
	}
	current := map[string]map[string]string{}
	for _, r := range dresp.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("failed to describe configs of topic %q: %w", r.ResourceName, r.Error))
			continue
		}
		current[r.ResourceName] = map[string]string{}
		for _, e := range r.ConfigEntries {
			current[r.ResourceName][e.ConfigName] = e.ConfigValue
		}
	}
	alter := &kafka.IncrementalAlterConfigsRequest{}
	for _, s := range specs {
		cur, ok := current[s.Name]
		if !ok {
			continue
		}
		res := kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name}
		for _, k := range sortedKeys(s.Configs) {
			if v, ok := cur[k]; !ok || v != s.Configs[k] {
				res.Configs = append(res.Configs, kafka.IncrementalAlterConfigsRequestConfig{
					Name: k, Value: s.Configs[k], ConfigOperation: kafka.ConfigOperationSet,
				})
			}
		}
		if len(res.Configs) > 0 {
			c.log.Info("updating topic configs", "topic", s.Name, "configs", res.Configs)
			alter.Resources = append(alter.Resources, res)
		}
	}
	if len(alter.Resources) > 0 {
		aresp, err := c.admin.IncrementalAlterConfigs(ctx, alter)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("failed to alter topic configs: %w", err))...)
		}
		for _, r := range aresp.Resources {
			if r.Error != nil {
				errs = append(errs, fmt.Errorf("failed to alter configs of topic %q: %w", r.ResourceName, r.Error))
			}
		}
	}
	return errors.Join(errs...)
}

// partitionCounts asks a broker directly (bypassing kafka-go's metadata
// cache, which may not know a topic created by someone else in the last
// seconds) for the partition count of each topic.
func (c *Client) partitionCounts(ctx context.Context, topics ...string) (map[string]int, error) {
	conn, err := c.dialAny(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(c.cfg.DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	parts, err := conn.ReadPartitions(topics...)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		// The broker does not say which topic is missing; ask one by one.
		for _, t := range topics {
			if _, err := conn.ReadPartitions(t); errors.Is(err, kafka.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("topic %q: %w", t, err)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read partitions of %v: %w", topics, err)
	}
	counts := map[string]int{}
	for _, p := range parts {
		counts[p.Topic]++
	}
	for _, t := range topics {
		if counts[t] == 0 {
			return nil, fmt.Errorf("topic %q: %w", t, kafka.UnknownTopicOrPartition)
		}
	}
	return counts, nil
}

// dialAny connects to the first bootstrap broker that accepts. Its error
// names every broker and why it failed.
func (c *Client) dialAny(ctx context.Context) (*kafka.Conn, error) {
	var errs []error
	for _, addr := range c.cfg.Brokers {
		conn, err := c.dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, fmt.Errorf("failed to reach any Kafka broker of %v: %w", c.cfg.Brokers, errors.Join(errs...))
}

// Lag returns how far group is behind on topics: per partition, the high
// watermark minus the group's committed offset, or minus the log start
// offset where the group has committed nothing (what a consumer starting
// from the earliest offset has left to read). It needs no group member to
// be running, so the operator can report lag of a scaled-down Pipeline.
func (c *Client) Lag(ctx context.Context, group string, topics []string) (total int64, perPartition map[TopicPartition]int64, err error) {
	counts, err := c.partitionCounts(ctx, topics...)
	if err != nil {
		return 0, nil, err
	}
	fetch := &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{}}
	list := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range topics {
		for p := range counts[t] {
			fetch.Topics[t] = append(fetch.Topics[t], p)
			list.Topics[t] = append(list.Topics[t], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
		}
	}
	committed, err := c.admin.OffsetFetch(ctx, fetch)
	if err == nil {
		err = committed.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		// Kafka answers offsets of -1 for a group it does not know; kfake
		// answers GROUP_ID_NOT_FOUND. Either way nothing is committed.
		committed, err = &kafka.OffsetFetchResponse{}, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("failed to fetch committed offsets of group %q: %w", group, err)
	}
	offsets, err := c.admin.ListOffsets(ctx, list)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to list offsets of %v: %w", topics, err)
	}
	perPartition = map[TopicPartition]int64{}
	for _, t := range topics {
		ends := map[int]kafka.PartitionOffsets{}
		for _, po := range offsets.Topics[t] {
			if po.Error != nil {
				return 0, nil, fmt.Errorf("failed to list offsets of %s/%d: %w", t, po.Partition, po.Error)
			}
			ends[po.Partition] = po
		}
		commits := map[int]int64{}
		for _, cp := range committed.Topics[t] {
			if cp.Error != nil {
				return 0, nil, fmt.Errorf("failed to fetch committed offset of %s/%d: %w", t, cp.Partition, cp.Error)
			}
			commits[cp.Partition] = cp.CommittedOffset
		}
		for p := range counts[t] {
			po, ok := ends[p]
			if !ok {
				return 0, nil, fmt.Errorf("no offsets listed for %s/%d", t, p)
			}
			from, ok := commits[p]
			if !ok || from < 0 {
				from = po.FirstOffset
			}
			lag := max(po.LastOffset-max(from, po.FirstOffset), 0)
			perPartition[TopicPartition{t, p}] = lag
			total += lag
		}
	}
	return total, perPartition, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
