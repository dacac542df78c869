package kafkaio

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/segmentio/kafka-go"
)

// TopicInfo is one topic of the cluster as metadata reports it.
type TopicInfo struct {
	Name string
	// Internal is true for the broker's own topics (__consumer_offsets,
	// __transaction_state).
	Internal bool
}

// ListTopics returns every topic of the cluster, sorted by name. It asks a
// broker (a metadata request for all topics), so the answer does not depend
// on what the client looked up before.
func (c *Client) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	md, err := c.admin.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("failed to list topics on %v: %w", c.cfg.Brokers, err)
	}
	out := make([]TopicInfo, 0, len(md.Topics))
	for _, t := range md.Topics {
		if t.Error != nil {
			continue
		}
		out = append(out, TopicInfo{Name: t.Name, Internal: t.Internal})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TopicConfigs reads the current values of keys on each topic
// (DescribeConfigs), defaults included. A topic the broker refuses to
// describe (it does not exist, or access is denied) has its error in
// topicErrs instead of a map in configs; err is set only when the request
// as a whole failed.
func (c *Client) TopicConfigs(ctx context.Context, topics, keys []string) (configs map[string]map[string]string, topicErrs map[string]error, err error) {
	configs, topicErrs = map[string]map[string]string{}, map[string]error{}
	if len(topics) == 0 {
		return configs, topicErrs, nil
	}
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: keys,
		})
	}
	resp, err := c.admin.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to describe configs of topics %v: %w", topics, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			topicErrs[r.ResourceName] = r.Error
			continue
		}
		m := map[string]string{}
		for _, e := range r.ConfigEntries {
			m[e.ConfigName] = e.ConfigValue
		}
		configs[r.ResourceName] = m
	}
	for _, t := range topics {
		if _, ok := configs[t]; !ok && topicErrs[t] == nil {
			topicErrs[t] = fmt.Errorf("broker did not describe topic %q", t)
		}
	}
	return configs, topicErrs, nil
}

// SetTopicConfigs sets the given configs on each topic with one
// IncrementalAlterConfigs request: only the named keys change, every other
// config of the topic is left as it is. Per-topic refusals are returned in
// topicErrs; err is set only when the request as a whole failed.
func (c *Client) SetTopicConfigs(ctx context.Context, set map[string]map[string]string) (topicErrs map[string]error, err error) {
	topicErrs = map[string]error{}
	if len(set) == 0 {
		return topicErrs, nil
	}
	req := &kafka.IncrementalAlterConfigsRequest{}
	for _, topic := range slices.Sorted(maps.Keys(set)) {
		res := kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}
		for _, k := range sortedKeys(set[topic]) {
			res.Configs = append(res.Configs, kafka.IncrementalAlterConfigsRequestConfig{
				Name: k, Value: set[topic][k], ConfigOperation: kafka.ConfigOperationSet,
			})
		}
		req.Resources = append(req.Resources, res)
	}
	resp, err := c.admin.IncrementalAlterConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("failed to alter configs of topics: %w", err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			topicErrs[r.ResourceName] = r.Error
		}
	}
	return topicErrs, nil
}
