package pipeline

import "github.com/ecap-dev/ecap/api/v1alpha1"

// RuntimePodLabels are the labels of a Pipeline's runtime pods: the
// Deployment's selector. Controllers of attached kinds list the pods by
// them to read the runtime's /v1/status.
func RuntimePodLabels(p *v1alpha1.Pipeline) map[string]string { return selectorLabels(p) }
